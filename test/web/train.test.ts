/**
 * Training in the page with the same training graph as Node (`createTrainStep`): a few steps on
 * the embedded Fashion-MNIST subset lower the loss; pause stops it; evaluation reports a test
 * accuracy; the downloaded model directory (zip, or the two files) loads in Node with
 * `--model` and gives the same logits there as in the page.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { loadModelDir } from '../../src/weights/model-dir-node.js';
import { ARTIFACTS, REPO, ensureBuilt, launch, noBrowser, openPage, serve, type StaticServer, type Watched } from './harness.js';
import { nodeLogits, relErr } from './fixtures.js';

const skip = noBrowser();
if (skip) console.log(`skipping the browser tests: ${skip}`);

type Demo = {
  demo: {
    classifications: number;
    train: { losses: number[]; steps: number; running: boolean; evals: { accuracy: number; count: number }[] };
    lastClassification?: { logits: number[]; model: string };
  };
};

/** The entries of a zip archive with stored (uncompressed) entries. */
function unzipStored(zip: Uint8Array): Map<string, Uint8Array> {
  const v = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const out = new Map<string, Uint8Array>();
  let at = 0;
  while (v.getUint32(at, true) === 0x04034b50) {
    assert.equal(v.getUint16(at + 8, true), 0, 'stored');
    const size = v.getUint32(at + 18, true);
    const nameLen = v.getUint16(at + 26, true);
    const extra = v.getUint16(at + 28, true);
    const name = new TextDecoder().decode(zip.subarray(at + 30, at + 30 + nameLen));
    const start = at + 30 + nameLen + extra;
    out.set(name, zip.subarray(start, start + size));
    at = start + size;
  }
  return out;
}

describe('training in the page', { skip, timeout: 900_000 }, () => {
  let server: StaticServer;
  let browser: Browser;
  let w: Watched;
  let tmp: string;

  before(async () => {
    ensureBuilt();
    tmp = mkdtempSync(join(tmpdir(), 'googlenet-web-train-'));
    server = await serve();
    browser = await launch();
    w = await openPage(browser, `${server.url}#train`);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('a few training steps lower the loss; pause stops them', async () => {
    await w.page.selectOption('#train-width', '0.0625');
    await w.page.selectOption('#train-batch', '16');
    await w.page.fill('#train-epochs', '1');
    await w.page.fill('#train-lr', '0.005');
    const t0 = Date.now();
    await w.page.click('#train-start');
    await w.page.waitForFunction(() => (window as unknown as Demo).demo.train.steps >= 16, null, { timeout: 300_000 });
    await w.page.click('#train-pause');
    await w.page.waitForFunction(() => !(window as unknown as Demo).demo.train.running, null, { timeout: 60_000 });
    const { losses, steps } = await w.page.evaluate(() => (window as unknown as Demo).demo.train);
    const mean = (a: number[]): number => a.reduce((s, x) => s + x, 0) / a.length;
    const first = mean(losses.slice(0, 4));
    const last = mean(losses.slice(-4));
    console.log(
      `${steps} steps in ${((Date.now() - t0) / 1000).toFixed(1)} s: loss ${first.toFixed(3)} (first 4) → ${last.toFixed(3)} (last 4)`,
    );
    assert.ok(losses.every(Number.isFinite));
    assert.ok(last < first - 0.05, `loss went from ${first} to ${last}`);
    // Paused: no more steps.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await w.page.evaluate(() => (window as unknown as Demo).demo.train.steps), steps);
    assert.match((await w.page.textContent('#train-status')) ?? '', /paused/);
    assert.equal(await w.page.textContent('#train-start'), 'Resume');
    assert.deepEqual(w.errors, []);
  });

  test('evaluation on the test subset shows an accuracy', async () => {
    await w.page.click('#train-eval');
    await w.page.waitForFunction(() => (window as unknown as Demo).demo.train.evals.length > 0, null, { timeout: 300_000 });
    const ev = await w.page.evaluate(() => (window as unknown as Demo).demo.train.evals[0]!);
    assert.equal(ev.count, 1000);
    assert.ok(ev.accuracy >= 0 && ev.accuracy <= 1);
    assert.match((await w.page.textContent('#eval-result')) ?? '', /% accuracy/);
    await w.page.screenshot({ path: join(ARTIFACTS, 'train.png'), fullPage: true });
    assert.deepEqual(w.errors, []);
  });

  test("the downloaded model directory loads in Node and gives the page's logits", async () => {
    const save = async (button: string): Promise<Uint8Array> => {
      const [dl] = await Promise.all([w.page.waitForEvent('download'), w.page.click(button)]);
      const path = join(tmp, dl.suggestedFilename());
      await dl.saveAs(path);
      return new Uint8Array(readFileSync(path));
    };
    const zip = unzipStored(await save('#dl-zip'));
    assert.deepEqual([...zip.keys()].sort(), ['fashion-mnist-browser/config.json', 'fashion-mnist-browser/model.safetensors']);
    const dir = join(tmp, 'unzipped');
    for (const [name, bytes] of zip) {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), bytes);
    }
    const modelDir = join(dir, 'fashion-mnist-browser');
    // The two single files are the same bytes.
    assert.deepEqual(await save('#dl-config'), zip.get('fashion-mnist-browser/config.json'));
    assert.deepEqual(await save('#dl-weights'), zip.get('fashion-mnist-browser/model.safetensors'));
    const model = loadModelDir(modelDir);
    assert.equal(model.config.width, 0.0625);
    assert.equal(model.config.inChannels, 1);
    assert.equal(model.labels?.[7], 'Sneaker');
    await model.dispose();

    // "Classify with it" switches to the Classify view with the trained model.
    await w.page.click('#use-model');
    await w.page.waitForSelector('#view-classify:not([hidden])');
    const n = await w.page.evaluate(() => (window as unknown as Demo).demo.classifications);
    await w.page.click('.sample[data-file^="fashion-7"]');
    await w.page.waitForFunction((k) => (window as unknown as Demo).demo.classifications > k, n, { timeout: 60_000 });
    const c = await w.page.evaluate(() => (window as unknown as Demo).demo.lastClassification!);
    assert.match(c.model, /trained in this page/);
    const node = nodeLogits(modelDir, join(REPO, 'web', 'public', 'samples', 'fashion-7-sneaker.png'));
    const err = relErr(c.logits, node);
    console.log(`trained model, page vs Node: relative error ${err.toExponential(2)}`);
    assert.ok(err <= 1e-4, `relative error ${err}`);
    assert.deepEqual(w.errors, []);
    assert.deepEqual(w.external, []);
  });
});
