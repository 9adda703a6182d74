/**
 * int8 and fp16 model directories in the page: the shipped Fashion-MNIST model quantized
 * (`googlenet quantize`, calibrated on the embedded subset) and stored as fp16
 * (`googlenet export --format web --dtype fp16`), loaded through the page's "Load from URL…",
 * give Node's logits for the same picture. Also prints the page's inference time per image for
 * fp32, int8 and fp16 on this machine (WebAssembly), for docs/PERFORMANCE.md.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { ensureBuilt, loadModelUrl, launch, noBrowser, openPage, REPO, serve, type StaticServer, type Watched } from './harness.js';
import { googlenet, nodeLogits, relErr } from './fixtures.js';

type Demo = {
  demo: {
    modelLoads: number;
    classifications: number;
    model?: { name: string; url: string };
    lastClassification?: { logits: number[]; ms: { inference: number } };
    backend?: { label: string };
  };
};

const FM = join(REPO, 'models', 'fashion-mnist');
const PICTURE = join(REPO, 'web', 'public', 'samples', 'fashion-7-sneaker.png');
const skip = noBrowser();

describe('int8 and fp16 model directories in the page', { skip, timeout: 900_000 }, () => {
  let tmp: string;
  let server: StaticServer;
  let browser: Browser;
  let w: Watched;

  before(async () => {
    ensureBuilt();
    tmp = mkdtempSync(join(tmpdir(), 'googlenet-web-dtypes-'));
    googlenet('quantize', '--model', FM, '--calibrate', 'fashion-mnist-subset', '--samples', '64', '-o', join(tmp, 'www', 'int8'));
    googlenet('export', '--model', FM, '--format', 'web', '--dtype', 'fp16', '-o', join(tmp, 'www', 'fp16'));
    server = await serve({ m: join(tmp, 'www') });
    browser = await launch();
    w = await openPage(browser, server.url);
    await w.page.waitForFunction(() => (window as unknown as Demo).demo.modelLoads > 0);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  async function loadUrl(url: string): Promise<void> {
    await loadModelUrl(w.page, url);
    assert.equal(await w.page.isHidden('#model-error'), true, (await w.page.textContent('#model-error')) ?? '');
  }

  /** Classifies the picture `times` times; the logits and the median inference time. */
  async function classify(times: number): Promise<{ logits: number[]; ms: number }> {
    const ms: number[] = [];
    let logits: number[] = [];
    for (let i = 0; i < times; i++) {
      const n = await w.page.evaluate(() => (window as unknown as Demo).demo.classifications);
      await w.page.setInputFiles('#file-input', PICTURE);
      await w.page.waitForFunction((k) => (window as unknown as Demo).demo.classifications > k, n, { timeout: 300_000 });
      const c = await w.page.evaluate(() => (window as unknown as Demo).demo.lastClassification!);
      logits = c.logits;
      ms.push(c.ms.inference);
    }
    ms.sort((a, b) => a - b);
    return { logits, ms: ms[Math.floor(ms.length / 2)]! };
  }

  // int8: ORT's integer kernels on WebAssembly and on the CPU may round requantization
  // differently, one step of an 8-bit activation at most; fp16: the same fp32 computation.
  const cases = [
    { dtype: 'fp32', url: null, tol: 1e-5 },
    { dtype: 'fp16', url: 'm/fp16/', tol: 1e-5 },
    { dtype: 'int8', url: 'm/int8/', tol: 2e-2 },
  ] as const;
  for (const c of cases) {
    test(`${c.dtype}: the page's logits equal Node's for the same picture`, async () => {
      if (c.url) await loadUrl(c.url);
      const dir = c.url ? join(tmp, 'www', c.dtype) : FM;
      const node = nodeLogits(dir, PICTURE);
      const page = await classify(15);
      const err = relErr(page.logits, node);
      const backend = await w.page.evaluate(() => (window as unknown as Demo).demo.backend?.label);
      console.log(
        `${c.dtype}: page vs Node relative error ${err.toExponential(2)}; ${page.ms.toFixed(2)} ms per image (median of 15) on ${backend}`,
      );
      assert.ok(err <= c.tol, `relative error ${err} > ${c.tol}`);
      assert.deepEqual(w.errors, []);
    });
  }
});
