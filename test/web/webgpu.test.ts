/**
 * The page on WebGPU: headless Chromium with `--enable-unsafe-webgpu` exposes SwiftShader's
 * software adapter; `?device=webgpu` makes the page use it (the default 'auto' passes over software
 * adapters, slower than WebAssembly). The page classifies with Node's logits and trains a few steps
 * through ONNX Runtime's native WebGPU provider. Skipped without an adapter, except in CI, where
 * `.ci/run` installs chromium and these must run.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { ARTIFACTS, REPO, ensureBuilt, launch, noBrowser, openPage, serve, type StaticServer, type Watched } from './harness.js';
import { nodeLogits, relErr } from './fixtures.js';

const skip = noBrowser();
if (skip) console.log(`skipping the browser tests: ${skip}`);

type Demo = {
  demo: {
    modelLoads: number;
    classifications: number;
    backend?: { kind: string; label: string; softwareAdapter?: boolean; sessionFallback?: string };
    backendError?: string;
    lastClassification?: { logits: number[] };
    train: { losses: number[]; steps: number; running: boolean };
  };
};

describe('the page on WebGPU (software adapter)', { skip, timeout: 900_000 }, () => {
  let server: StaticServer;
  let browser: Browser;
  let w: Watched;
  let noAdapter: string | undefined;

  before(async () => {
    ensureBuilt();
    server = await serve();
    browser = await launch(['--enable-unsafe-webgpu']);
    w = await openPage(browser, `${server.url}?device=webgpu`);
    const err = await w.page.evaluate(() => (window as unknown as Demo).demo.backendError);
    if (err) {
      if (process.env.CI) throw new Error(`CI's chromium gave no WebGPU adapter: ${err}`);
      noAdapter = err;
    } else await w.page.waitForFunction(() => (window as unknown as Demo).demo.modelLoads > 0);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('?device=webgpu runs on the WebGPU provider and the badge says so', (t) => {
    if (noAdapter) return t.skip(`no WebGPU adapter in this chromium: ${noAdapter}`);
    return w.page
      .evaluate(() => (window as unknown as Demo).demo.backend!)
      .then(async (b) => {
        assert.equal(b.kind, 'webgpu');
        assert.equal(b.softwareAdapter, true, b.label);
        assert.match((await w.page.textContent('#backend-label')) ?? '', /^WebGPU/);
      });
  });

  test('the shipped Fashion-MNIST model classifies with the logits of googlenet predict (≤ 1e-4 relative)', async (t) => {
    if (noAdapter) return t.skip(`no WebGPU adapter in this chromium: ${noAdapter}`);
    const picture = join(REPO, 'web', 'public', 'samples', 'fashion-7-sneaker.png');
    const n = await w.page.evaluate(() => (window as unknown as Demo).demo.classifications);
    await w.page.setInputFiles('#file-input', picture);
    await w.page.waitForFunction((k) => (window as unknown as Demo).demo.classifications > k, n, { timeout: 300_000 });
    const page = await w.page.evaluate(() => (window as unknown as Demo).demo.lastClassification!.logits);
    const node = nodeLogits(join(REPO, 'models', 'fashion-mnist'), picture);
    const err = relErr(page, node);
    console.log(`WebGPU page vs Node CPU: relative error ${err.toExponential(2)}`);
    assert.ok(err <= 1e-4, `relative error ${err}`);
    assert.match((await w.page.textContent('#timing')) ?? '', /ms per image.*WebGPU/);
    assert.deepEqual(w.errors, []);
  });

  test('trains a few steps on WebGPU (finite losses, ms/step shown)', async (t) => {
    if (noAdapter) return t.skip(`no WebGPU adapter in this chromium: ${noAdapter}`);
    await w.page.click('#tab-train');
    await w.page.selectOption('#train-width', '0.0625');
    await w.page.selectOption('#train-batch', '16');
    await w.page.fill('#train-epochs', '1');
    await w.page.click('#train-start');
    await w.page.waitForFunction(
      () => (window as unknown as Demo).demo.train.steps >= 3 || !document.getElementById('train-error')!.hidden,
      null,
      { timeout: 600_000 },
    );
    assert.equal(await w.page.isHidden('#train-error'), true, (await w.page.textContent('#train-error')) ?? '');
    await w.page.click('#train-pause');
    await w.page.waitForFunction(() => !(window as unknown as Demo).demo.train.running, null, { timeout: 300_000 });
    const { losses } = await w.page.evaluate(() => (window as unknown as Demo).demo.train);
    assert.ok(losses.length >= 3 && losses.every((l) => Number.isFinite(l) && l > 0), losses.join(', '));
    const b = await w.page.evaluate(() => (window as unknown as Demo).demo.backend!);
    assert.equal(b.kind, 'webgpu');
    assert.equal(b.sessionFallback, undefined);
    await w.page.screenshot({ path: join(ARTIFACTS, 'train-webgpu.png') });
    assert.deepEqual(w.errors, []);
  });
});
