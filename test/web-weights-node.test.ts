/**
 * The browser's `{ weights }` loader (`src/web/weights.ts`) run in Node, where `fetch` and
 * `crypto.subtle` exist and the Cache API does not (so nothing is cached): a registry entry's
 * options, categories and preprocessing apply and the user's options override them, the entry's
 * hash is checked, an unknown name lists the known ones, and the ImageNet class names come from
 * `categoriesUrl`. The page itself is tested in `test/web/weights.test.ts`.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import '../src/runtime/engine-node.js';
import { OptionError, WeightFormatError } from '../src/errors.js';
import { GoogLeNet } from '../src/models/model.js';
import { torchvisionSafetensors } from '../src/weights/model-dir.js';
import { clearUserWeights, registerWeights } from '../src/weights/registry.js';
import { fetchImagenetClasses, fetchWeights, loadWeightsSource } from '../src/web/weights.js';
import { REPO } from './cli-run.js';

let srv: Server;
let base: string;
let bytes: Uint8Array;
let sha: string;
let name: string;
const classes = Array.from({ length: 10 }, (_, i) => `thing ${i}`);

before(async () => {
  bytes = torchvisionSafetensors(new GoogLeNet({ width: 0.25, inputSize: 64, numClasses: 10 }, { seed: 1 }));
  sha = createHash('sha256').update(bytes).digest('hex');
  name = `tiny-${sha.slice(0, 8)}.safetensors`;
  const files: Record<string, Uint8Array> = {
    [`/w/${name}`]: bytes,
    '/imagenet-classes.json': readFileSync(join(REPO, 'assets', 'imagenet-classes.json')),
    '/not-classes.json': new TextEncoder().encode('["a", "b"]'),
  };
  srv = createServer((req, res) => {
    const body = files[req.url ?? ''];
    if (!body) res.writeHead(404).end();
    else res.writeHead(200, { 'Content-Length': body.length }).end(body);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => srv.close(() => r())));
afterEach(() => clearUserWeights());

test('a registry entry: its options, categories and preprocessing apply; the user’s options override them', async () => {
  registerWeights({
    name: 'tiny',
    description: 'test',
    url: `${base}/w/${name}`,
    options: { width: 0.25, inputSize: 64, numClasses: 10, dropout: 0.3 },
    categories: classes,
    preprocessing: { resize: 73, crop: 64, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], interpolation: 'bilinear' },
  });
  const progress: [number, number][] = [];
  const m = await loadWeightsSource({ weights: 'tiny', dropout: 0.5 }, { onProgress: (a, b) => progress.push([a, b]) });
  try {
    assert.equal(m.config.dropout, 0.5);
    assert.equal(m.config.width, 0.25);
    assert.deepEqual(m.labels, classes);
    assert.deepEqual(m.preprocess, { resize: 73, crop: 64, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] });
    assert.deepEqual(progress.at(-1), [bytes.length, bytes.length]);
  } finally {
    await m.dispose();
  }
});

test('the entry’s SHA-256 is checked: a mismatch is a WeightFormatError with both hashes, as in Node', async () => {
  registerWeights({ name: 'tiny-bad', description: 'test', url: `${base}/w/${name}`, sha256: '00000000', options: { width: 0.25 } });
  await assert.rejects(loadWeightsSource({ weights: 'tiny-bad' }), (e: unknown) => {
    // One class for one failure in Node and the browser (issue 19.6; it was a ModelLoadError here).
    assert.ok(e instanceof WeightFormatError, String(e));
    assert.ok(e.file?.endsWith(name), String(e.file));
    assert.equal(
      e.message,
      `${name}: SHA-256 mismatch: expected 00000000…, received ${sha} (from ${base}/w/${name}); the file was not cached`,
    );
    return true;
  });
});

test('a plain URL: the name’s hash prefix is checked, numClasses comes from the file, a mirror keeps the file name', async () => {
  const f = await fetchWeights(`https://weights.invalid/models/${name}`, { mirror: `${base}/w/` });
  assert.equal(f.sha256, sha);
  assert.equal(f.from, `${base}/w/${name}`);
  assert.equal(f.fromCache, false);
  const m = await loadWeightsSource({ weights: `${base}/w/${name}`, width: 0.25, inputSize: 64 });
  assert.equal(m.config.numClasses, 10);
  await m.dispose();
});

test('an unknown name lists the known ones; a 404 names the URL', async () => {
  await assert.rejects(loadWeightsSource({ weights: 'imagenett' }), (e: unknown) => {
    assert.ok(e instanceof OptionError);
    assert.match(e.message, /unknown weights "imagenett"; known names: imagenet, torchvision\/IMAGENET1K_V1, fashion-mnist/);
    return true;
  });
  await assert.rejects(fetchWeights(`${base}/w/missing-12345678.pth`), /missing-12345678\.pth: HTTP 404/);
});

test('ImageNet class names from categoriesUrl; a wrong list is refused', async () => {
  const names = await fetchImagenetClasses(`${base}/imagenet-classes.json`);
  assert.equal(names.length, 1000);
  assert.equal(names[0], JSON.parse(readFileSync(join(REPO, 'assets', 'imagenet-classes.json'), 'utf8'))[0]);
  await assert.rejects(fetchImagenetClasses(`${base}/not-classes.json`), /expected a JSON array of 1000 ImageNet class names/);
});
