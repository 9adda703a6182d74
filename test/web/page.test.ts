/**
 * The built demo page in headless Chromium: loads with no console errors and no request
 * outside its origin, reports its backend, shows the exact parameter counts of every preset,
 * and leaves a screenshot of each view in test-artifacts/web/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { resolveConfig, PRESETS } from '../../src/models/config.js';
import { buildGoogLeNet } from '../../src/models/googlenet.js';
import { summarize } from '../../src/models/summary.js';
import { ARTIFACTS, ensureBuilt, launch, noBrowser, openPage, serve, type StaticServer, type Watched } from './harness.js';

const skip = noBrowser();
if (skip) console.log(`skipping the browser tests: ${skip}`);

describe('demo page', { skip, timeout: 600_000 }, () => {
  let server: StaticServer;
  let browser: Browser;
  let w: Watched;

  before(async () => {
    ensureBuilt();
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await serve();
    browser = await launch();
    w = await openPage(browser, server.url);
    await w.page.waitForFunction(() => (window as unknown as { demo: { modelLoads: number } }).demo.modelLoads > 0);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('loads with no console errors, no external requests, and says which backend it uses', async () => {
    const info = await w.page.evaluate(() => {
      const d = (
        window as unknown as {
          demo: {
            backend?: { kind: string; label: string; threads: number; crossOriginIsolated: boolean; fallbackReason?: string };
            backendError?: string;
            model?: { name: string; trained: boolean };
          };
        }
      ).demo;
      return { backend: d.backend, error: d.backendError, model: d.model, isolated: crossOriginIsolated };
    });
    assert.equal(info.error, undefined);
    assert.ok(info.backend, 'a backend was chosen');
    assert.equal(info.isolated, true, 'COOP/COEP make the page cross-origin isolated');
    assert.ok(['wasm', 'webgpu'].includes(info.backend.kind));
    if (info.backend.kind === 'wasm') assert.ok(info.backend.threads >= 1);
    console.log(`backend: ${info.backend.label}${info.backend.fallbackReason ? ` (${info.backend.fallbackReason})` : ''}`);
    assert.match((await w.page.textContent('#backend-label')) ?? '', /WebAssembly|WebGPU/);
    assert.ok(info.model, 'the default model loaded');
    if (!info.model.trained) assert.match((await w.page.textContent('#model-badge')) ?? '', /untrained/);
    assert.deepEqual(w.errors, []);
    assert.deepEqual(w.external, []);
  });

  test('classify view: a sample picture gets five probabilities; screenshot', async () => {
    await w.page.click('.sample[data-file^="fashion-7"]');
    await w.page.waitForFunction(
      () => (window as unknown as { demo: { lastClassification?: unknown } }).demo.lastClassification !== undefined,
    );
    const rows = await w.page.$$eval('#top5 li[data-index]', (li) => li.map((l) => l.textContent));
    assert.equal(rows.length, 5);
    const timing = (await w.page.textContent('#timing')) ?? '';
    assert.match(timing, /ms per image/);
    assert.match(timing, /WebAssembly|WebGPU/);
    await w.page.screenshot({ path: join(ARTIFACTS, 'classify.png'), fullPage: true });
    assert.deepEqual(w.errors, []);
  });

  test('architecture view: the exact parameter count of every preset, with and without aux heads; screenshot', async () => {
    await w.page.click('#tab-architecture');
    const expected = new Map<string, number>();
    for (const p of PRESETS) {
      for (const aux of [false, true]) {
        const cfg = resolveConfig({ preset: p, auxLogits: aux });
        expected.set(`${p}:${aux}`, summarize(buildGoogLeNet(cfg, { mode: aux ? 'train' : 'eval' })).params);
      }
    }
    assert.equal(expected.get('bn:true'), 13_385_816);
    for (const p of PRESETS) {
      for (const aux of [false, true]) {
        await w.page.check(`#preset-picker input[value="${p}"]`);
        await w.page.setChecked('#aux-toggle', aux);
        const shown = await w.page.textContent('#arch-total .big');
        assert.equal(shown, expected.get(`${p}:${aux}`)!.toLocaleString('en-US'), `${p}${aux ? ' + aux' : ''}`);
        // the nine modules and the stem are drawn, each with shape, params and MACs
        assert.equal(await w.page.locator('#diagram .inception').count(), 9);
        const aux1 = await w.page.getAttribute('#diagram .aux[data-layer="aux1"]', 'class');
        assert.equal(aux1?.includes('off'), !aux);
      }
      const row = w.page.locator(`#preset-table tr[data-preset="${p}"]`);
      assert.equal(await row.locator('td[data-params]').textContent(), expected.get(`${p}:false`)!.toLocaleString('en-US'));
      assert.equal(await row.locator('td[data-params-aux]').textContent(), expected.get(`${p}:true`)!.toLocaleString('en-US'));
    }
    const text = (await w.page.textContent('#view-architecture')) ?? '';
    for (const n of ['13,385,816', '221,184', '129,024', '51,380,224']) assert.ok(text.includes(n), `shows ${n}`);
    // Inception v3: torchvision's counts, its eleven modules with their branches, AuxLogits after Mixed_6e.
    await w.page.check('#preset-picker input[value="inception_v3"]');
    for (const [aux, params, macs] of [
      [false, '23,834,568', '5,713,216,096'],
      [true, '27,161,264', '5,718,899,296'],
    ] as const) {
      await w.page.setChecked('#aux-toggle', aux);
      assert.equal(await w.page.textContent('#arch-total .big'), params, `inception_v3${aux ? ' + aux' : ''}`);
      assert.match((await w.page.textContent('#arch-total')) ?? '', new RegExp(`${macs} multiply-adds per image · input 3×299×299`));
      assert.equal(await w.page.locator('#diagram .inception').count(), 11);
      assert.equal((await w.page.getAttribute('#diagram .aux[data-layer="AuxLogits"]', 'class'))?.includes('off'), !aux);
    }
    const e = w.page.locator('#diagram .inception[data-layer="Mixed_7b"] .branch');
    assert.deepEqual(await e.locator('.btitle').allTextContents(), ['branch1x1', 'branch3x3', 'branch3x3dbl', 'branch_pool']);
    assert.deepEqual(await e.nth(1).locator('.op').allTextContents(), ['1×1 conv, 384', '1×3 conv, 384', '3×1 conv, 384']);
    const v3row = w.page.locator('#preset-table tr[data-preset="inception_v3"]');
    assert.equal(await v3row.locator('td[data-params-aux]').textContent(), '27,161,264');
    await w.page.screenshot({ path: join(ARTIFACTS, 'architecture-inception-v3.png'), fullPage: true });
    await w.page.check('#preset-picker input[value="bn"]');
    await w.page.setChecked('#aux-toggle', true);
    await w.page.screenshot({ path: join(ARTIFACTS, 'architecture.png'), fullPage: true });
    assert.deepEqual(w.errors, []);
  });

  test('train view renders; screenshot', async () => {
    await w.page.click('#tab-train');
    assert.match((await w.page.textContent('#train-arch')) ?? '', /trainable parameters/);
    await w.page.screenshot({ path: join(ARTIFACTS, 'train-idle.png'), fullPage: true });
    assert.deepEqual(w.errors, []);
    assert.deepEqual(w.external, []);
  });
});
