/**
 * Classification in the page against Node, and bad input. The same model directory (exported
 * with `googlenet export --format web`) and the same PNG give the same logits in headless
 * Chromium (onnxruntime-web) as `googlenet predict --logits --json` (onnxruntime-node), within
 * 1e-4 relative error; pictures that are not pictures, enormous pictures, a model URL that 404s
 * and a weight file that does not fit its config each end in a visible message.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../src/image/normalize.js';
import {
  ARTIFACTS,
  REPO,
  ensureBuilt,
  launch,
  loadModelUrl,
  noBrowser,
  openPage,
  serve,
  type StaticServer,
  type Watched,
} from './harness.js';
import { badFiles, colourPicture, enormousPicture, exportWeb, makeModelDir, mismatchedModelDir, nodeLogits, relErr } from './fixtures.js';

const skip = noBrowser();
if (skip) console.log(`skipping the browser tests: ${skip}`);

type Demo = {
  demo: {
    modelLoads: number;
    classifications: number;
    model?: { name: string; url: string };
    lastClassification?: {
      logits: number[];
      width: number;
      height: number;
      originalWidth: number;
      originalHeight: number;
      downscaled: boolean;
    };
    backend?: { kind: string; label: string; sessionFallback?: string };
  };
};

describe('classify in the page', { skip, timeout: 900_000 }, () => {
  let server: StaticServer;
  let browser: Browser;
  let w: Watched;
  let tmp: string;
  const pics: Record<string, string> = {};

  before(async () => {
    ensureBuilt();
    tmp = mkdtempSync(join(tmpdir(), 'googlenet-web-'));
    // RGB model: resize 36 + centre crop 32, ImageNet normalization, torchvision-like stem-free cifar net.
    makeModelDir(
      join(tmp, 'src-rgb'),
      { preset: 'cifar', numClasses: 10, inChannels: 3, inputSize: 32, width: 0.25 },
      { resize: 36, crop: 32, mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] },
    );
    exportWeb(join(tmp, 'src-rgb'), join(tmp, 'www', 'rgb'));
    // Greyscale bn-preset model at 96×96 (upscales the 28×28 sample), with aux heads in the file.
    makeModelDir(
      join(tmp, 'src-grey'),
      { preset: 'bn', numClasses: 10, inChannels: 1, inputSize: 96, width: 0.125, auxLogits: true },
      { resize: 104, crop: 96, mean: [0.286], std: [0.353] },
      11,
    );
    exportWeb(join(tmp, 'src-grey'), join(tmp, 'www', 'grey'));
    // A narrow Inception v3 at its smallest input (75×75), the ImageNet preprocessing scaled to it.
    makeModelDir(
      join(tmp, 'src-v3'),
      { arch: 'inception_v3', numClasses: 10, inputSize: 75, width: 0.125, transformInput: true },
      { resize: 86, crop: 75, mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] },
      13,
    );
    exportWeb(join(tmp, 'src-v3'), join(tmp, 'www', 'v3'));
    // Weights of one config under another config.
    makeModelDir(
      join(tmp, 'src-narrow'),
      { preset: 'cifar', numClasses: 10, inChannels: 3, inputSize: 32, width: 0.125 },
      { resize: 32, crop: 32, mean: [0.5], std: [0.5] },
    );
    mismatchedModelDir(join(tmp, 'www', 'mismatch'), join(tmp, 'src-rgb'), join(tmp, 'src-narrow'));
    pics.colour = join(tmp, 'colour.png');
    await colourPicture(pics.colour);
    pics.sneaker = join(REPO, 'web', 'public', 'samples', 'fashion-7-sneaker.png');
    pics.enormous = join(tmp, 'enormous.png');
    await enormousPicture(pics.enormous, 9000, 6000);
    Object.assign(pics, badFiles(join(tmp, 'bad'), pics.colour));
    server = await serve({ fixtures: join(tmp, 'www') });
    browser = await launch();
    w = await openPage(browser, server.url);
    await w.page.waitForFunction(() => (window as unknown as Demo).demo.modelLoads > 0);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const loadUrl = (url: string): Promise<void> => loadModelUrl(w.page, url, 60_000);

  async function classifyFile(file: string): Promise<void> {
    const n = await w.page.evaluate(() => (window as unknown as Demo).demo.classifications);
    await w.page.setInputFiles('#file-input', file);
    await w.page.waitForFunction((k) => (window as unknown as Demo).demo.classifications > k, n, { timeout: 60_000 });
  }

  const logits = (): Promise<number[]> => w.page.evaluate(() => (window as unknown as Demo).demo.lastClassification!.logits);

  for (const [name, model, pic] of [
    ['colour picture, RGB model (resize + crop + ImageNet normalization)', 'rgb', 'colour'],
    ['greyscale sample, greyscale bn-preset model (upscaled 28→104, cropped to 96)', 'grey', 'sneaker'],
    ['colour picture, Inception v3 (narrow, 75×75, transform_input)', 'v3', 'colour'],
  ] as const) {
    test(`same logits as googlenet predict --logits: ${name}`, async () => {
      await loadUrl(`/fixtures/${model}/`);
      assert.equal(await w.page.isHidden('#model-error'), true, (await w.page.textContent('#model-error')) ?? '');
      await classifyFile(pics[pic]!);
      const page = await logits();
      const node = nodeLogits(join(tmp, 'www', model), pics[pic]!);
      const err = relErr(page, node);
      const backend = await w.page.evaluate(() => (window as unknown as Demo).demo.backend!);
      console.log(
        `${model}: relative error ${err.toExponential(2)} on ${backend.label}${backend.sessionFallback ? ` (this graph ${backend.sessionFallback})` : ''} ` +
          `(logits ‖·‖ ${Math.hypot(...node).toFixed(3)})`,
      );
      assert.equal(page.length, node.length);
      assert.ok(err <= 1e-4, `relative error ${err}`);
      assert.deepEqual(w.errors, []);
    });
  }

  test('drop and paste classify too', async () => {
    for (const how of ['drop', 'paste'] as const) {
      const n = await w.page.evaluate(() => (window as unknown as Demo).demo.classifications);
      await w.page.evaluate(async (kind) => {
        const blob = await (await fetch('samples/fashion-1-trouser.png')).blob();
        const dt = new DataTransfer();
        dt.items.add(new File([blob], `trouser-${kind}.png`, { type: 'image/png' }));
        if (kind === 'drop')
          document.getElementById('dropzone')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
        else document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
      }, how);
      await w.page.waitForFunction((k) => (window as unknown as Demo).demo.classifications > k, n, { timeout: 60_000 });
      assert.match((await w.page.textContent('#timing')) ?? '', new RegExp(`trouser-${how}\\.png`));
    }
    assert.deepEqual(w.errors, []);
  });

  test('an enormous picture is downscaled while decoding, the tab stays responsive', async () => {
    await loadUrl('/fixtures/rgb/');
    const started = Date.now();
    const n = await w.page.evaluate(() => (window as unknown as Demo).demo.classifications);
    await w.page.setInputFiles('#file-input', pics.enormous!);
    // While it decodes, the page answers.
    const ping = Date.now();
    await w.page.evaluate(() => 1);
    const latency = Date.now() - ping;
    await w.page.waitForFunction((k) => (window as unknown as Demo).demo.classifications > k, n, { timeout: 120_000 });
    const c = await w.page.evaluate(() => (window as unknown as Demo).demo.lastClassification!);
    assert.equal(c.downscaled, true);
    assert.equal(c.originalWidth, 9000);
    assert.equal(Math.max(c.width, c.height), 2048);
    assert.match((await w.page.textContent('#preview-info')) ?? '', /downscaled/);
    console.log(
      `9000×6000 PNG: decoded to ${c.width}×${c.height} and classified in ${Date.now() - started} ms (page answered in ${latency} ms meanwhile)`,
    );
    assert.ok(latency < 5000, `the page answered in ${latency} ms`);
    assert.deepEqual(w.errors, []);
  });

  for (const [what, key, pattern] of [
    ['a text file', 'text', /not an image/],
    ['a JSON file named .png', 'fakePng', /not an image/],
    ['a truncated PNG', 'truncated', /cannot be decoded/],
    ['an empty file', 'empty', /empty/],
  ] as const) {
    test(`bad input: ${what} gives a visible message`, async () => {
      await classifyFile(pics[key]!);
      assert.equal(await w.page.isVisible('#classify-error'), true);
      assert.match((await w.page.textContent('#classify-error')) ?? '', pattern);
      assert.match((await w.page.textContent('#top5')) ?? '', /No prediction/);
      assert.deepEqual(w.errors, []);
    });
  }

  test('bad input: a model URL that 404s gives a visible message and keeps the previous model', async () => {
    const before = await w.page.evaluate(() => (window as unknown as Demo).demo.model!.name);
    await loadUrl('/fixtures/no-such-model/');
    const msg = (await w.page.textContent('#model-error')) ?? '';
    assert.equal(await w.page.isVisible('#model-error'), true);
    assert.match(msg, /HTTP 404/);
    assert.match(msg, /no-such-model\/config\.json/);
    assert.equal(await w.page.evaluate(() => (window as unknown as Demo).demo.model!.name), before);
    // The browser itself logs the failed request; that is the only console error allowed.
    assert.ok(
      w.errors.every((e) => /404/.test(e)),
      w.errors.join('\n'),
    );
    w.errors.length = 0;
  });

  test('bad input: a weight file that does not match its config gives a visible message', async () => {
    await loadUrl('/fixtures/mismatch/');
    const msg = (await w.page.textContent('#model-error')) ?? '';
    assert.equal(await w.page.isVisible('#model-error'), true);
    assert.match(msg, /does not match its config\.json/);
    assert.match(msg, /shape/);
    await w.page.screenshot({ path: join(ARTIFACTS, 'bad-input.png'), fullPage: true });
    assert.deepEqual(w.errors, []);
    assert.deepEqual(w.external, []);
  });
});
