/**
 * A browser with no usable backend: the page says so visibly, keeps the Architecture view
 * working, and does not hang. Two ways to break it: no `WebAssembly` global (removed before the page's scripts run), and
 * onnxruntime-web's .wasm file missing from the server.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { ARTIFACTS, ensureBuilt, launch, noBrowser, openPage, serve, type StaticServer } from './harness.js';

const skip = noBrowser();
if (skip) console.log(`skipping the browser tests: ${skip}`);

type Demo = { demo: { backend?: unknown; backendError?: string } };

describe('no usable backend', { skip, timeout: 300_000 }, () => {
  let server: StaticServer;
  let browser: Browser | undefined;

  before(async () => {
    ensureBuilt();
    server = await serve();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('WebAssembly disabled: a visible message, the architecture view still works', async () => {
    browser = await launch();
    const w = await openPage(browser, server.url, () => {
      delete (globalThis as { WebAssembly?: unknown }).WebAssembly;
    });
    const err = await w.page.evaluate(() => (window as unknown as Demo).demo.backendError);
    assert.match(err ?? '', /no WebAssembly/);
    assert.equal(await w.page.isVisible('#global-error'), true);
    assert.match((await w.page.textContent('#global-error')) ?? '', /ONNX Runtime cannot run in this browser/);
    assert.equal(await w.page.textContent('#backend-label'), 'no backend');
    assert.equal(await w.page.isDisabled('#train-start'), true);
    await w.page.click('#tab-architecture');
    assert.equal(await w.page.textContent('#arch-total .big'), '13,385,816');
    await w.page.screenshot({ path: join(ARTIFACTS, 'no-backend.png') });
    assert.deepEqual(w.errors, []);
    await browser.close();
    browser = undefined;
  });

  test("onnxruntime-web's .wasm missing: a visible message naming where it looked", async () => {
    browser = await launch();
    const context = await browser.newContext();
    await context.route('**/*.wasm', (r) => r.fulfill({ status: 404, body: 'gone' }));
    const page = await context.newPage();
    page.setDefaultTimeout(120_000);
    await page.goto(server.url);
    await page.waitForFunction(
      () => (window as unknown as Demo).demo?.backend !== undefined || (window as unknown as Demo).demo?.backendError !== undefined,
    );
    const err = await page.evaluate(() => (window as unknown as Demo).demo.backendError);
    assert.match(
      err ?? '',
      /could not start its WebAssembly backend \(files from onnxruntime-web's own folder, as the bundler emitted it; set wasmPaths/,
    );
    assert.equal(await page.isVisible('#global-error'), true);
  });
});
