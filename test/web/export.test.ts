/**
 * `googlenet export --format web` and the browser's model-directory code, run in Node (no
 * browser needed): the export holds what the page loads; the page's writer produces the same
 * bytes as Node's `saveModelDir`; its reader rejects wrong files with messages that say why.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import '../../src/runtime/engine-node.js';
import { GoogLeNet } from '../../src/models/model.js';
import { loadModelDir, saveModelDir } from '../../src/weights/model-dir-node.js';
import {
  checkModelDirConfig,
  modelDirFiles,
  modelFromFiles,
  modelSource,
  WEB_MANIFEST_FORMAT,
  type WebManifest,
} from '../../src/weights/model-dir.js';
import { crc32, zipFiles } from '../../src/web/zip.js';
import { idxDatasetInfo } from '../../src/data/core.js';
import { idxDataset, parseIdx } from '../../src/data/idx.js';
import { DataLoader } from '../../src/data/loader.js';
import { exportWeb, googlenet, makeModelDir } from './fixtures.js';

describe('googlenet export --format web', { timeout: 300_000 }, () => {
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'googlenet-web-export-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('writes config.json, model.safetensors and manifest.json; Node loads the result', async () => {
    const src = join(tmp, 'src');
    const model = makeModelDir(
      src,
      { preset: 'cifar', numClasses: 10, inChannels: 3, inputSize: 32, width: 0.125 },
      { resize: 32, crop: 32, mean: [0.5], std: [0.5] },
    );
    const out = join(tmp, 'web-model');
    exportWeb(src, out);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as WebManifest;
    assert.equal(manifest.format, WEB_MANIFEST_FORMAT);
    assert.equal(manifest.name, 'web-model');
    assert.equal(manifest.numClasses, 10);
    assert.equal(manifest.params, model.numParams());
    assert.equal(manifest.files.weightsBytes, statSync(join(out, 'model.safetensors')).size);
    assert.equal(manifest.trained, false, 'the fixture says its weights are random');
    const back = loadModelDir(out);
    const x = { dims: [2, 3, 32, 32], data: Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.sin(i / 7)) };
    assert.deepEqual((await back.forward(x)).logits.data, (await model.forward(x)).logits.data);
    await Promise.all([back.dispose(), model.dispose()]);
  });

  test('rejects an unknown format with a one-line error', () => {
    assert.throws(
      () => googlenet('export', '--model', join(tmp, 'src'), '--format', 'tfjs', '-o', join(tmp, 'x')),
      /--format: expected one of safetensors, onnx, web/,
    );
  });

  test("the page's model-directory writer gives the bytes of Node's saveModelDir", () => {
    const model = new GoogLeNet({ preset: 'cifar', numClasses: 10, inChannels: 1, inputSize: 28, width: 0.0625 }, { seed: 3 });
    model.labels = Array.from({ length: 10 }, (_, i) => `c${i}`);
    model.preprocess = { resize: 28, crop: 28, mean: [0.286], std: [0.353] };
    const dir = join(tmp, 'node-written');
    saveModelDir(model, dir, { source: 'trained in the browser' });
    const files = modelDirFiles(model, { source: 'trained in the browser' });
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'config.json'))), files['config.json']);
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'model.safetensors'))), files['model.safetensors']);
    const cfg = checkModelDirConfig(JSON.parse(new TextDecoder().decode(files['config.json'])), 'config.json');
    const back = modelFromFiles(cfg, files['model.safetensors'], { config: 'config.json', weights: 'model.safetensors' });
    assert.equal(modelSource(back), 'trained in the browser');
    assert.deepEqual(back.labels, model.labels);
  });

  test("the page's reader names what is wrong", () => {
    const a = new GoogLeNet({ preset: 'cifar', numClasses: 10, width: 0.125, inputSize: 32 }, { seed: 1 });
    const b = new GoogLeNet({ preset: 'cifar', numClasses: 10, width: 0.25, inputSize: 32 }, { seed: 1 });
    const fa = modelDirFiles(a);
    const fb = modelDirFiles(b);
    const names = { config: 'm/config.json', weights: 'm/model.safetensors' };
    const cfgA = checkModelDirConfig(JSON.parse(new TextDecoder().decode(fa['config.json'])), names.config);
    assert.throws(
      () => modelFromFiles(cfgA, fb['model.safetensors'], names),
      /does not match its config\.json \(preset cifar, 10 classes.*width 0\.125\).*conv1\.conv\.weight" has shape \[48, 3, 3, 3\], the model expects \[24, 3, 3, 3\]/,
    );
    assert.throws(() => modelFromFiles(cfgA, fa['model.safetensors'].subarray(0, 1000), names), /damaged or not safetensors/);
    assert.throws(() => checkModelDirConfig({ format: 'keras' }, names.config), /format is "keras", expected "googlenet-ts\/model"/);
    assert.throws(() => checkModelDirConfig([], names.config), /expected a JSON object/);
    assert.throws(
      () => checkModelDirConfig({ format: 'googlenet-ts/model', version: 99, model: {}, preprocess: {} }, names.config),
      /newer than this googlenet-ts reads/,
    );
  });

  test('the browser entry (googlenet-ts/browser) bundles for the browser: no Node module (*-node.ts, cli/) anywhere in its imports', async () => {
    const { build } = await import('esbuild');
    const r = await build({
      entryPoints: [new URL('../../src/web/index.ts', import.meta.url).pathname],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      external: ['onnxruntime-web'],
      logLevel: 'silent',
      metafile: true,
    });
    const inputs = Object.keys(r.metafile.inputs);
    assert.ok(
      inputs.some((f) => f.endsWith('src/train/engine.ts')),
      'the training engine is part of it',
    );
    assert.ok(!inputs.some((f) => /-node\.ts$|src\/cli\//.test(f)), inputs.join('\n'));
  });

  test('zip writer: CRC-32 check value, stored entries', () => {
    assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
    const z = zipFiles({ 'd/a.txt': new TextEncoder().encode('hello'), 'd/b.bin': new Uint8Array([1, 2, 3]) });
    const v = new DataView(z.buffer);
    assert.equal(v.getUint32(0, true), 0x04034b50);
    assert.equal(v.getUint32(z.length - 22, true), 0x06054b50);
    assert.equal(v.getUint16(z.length - 22 + 10, true), 2);
  });

  test('IDX parsing and batches of the browser trainer match the embedded subset', async () => {
    const { gunzipSync } = await import('node:zlib');
    const raw = gunzipSync(readFileSync(new URL('../../assets/fashion-mnist-subset/t10k-images-idx3-ubyte.gz', import.meta.url)));
    const lraw = gunzipSync(readFileSync(new URL('../../assets/fashion-mnist-subset/t10k-labels-idx1-ubyte.gz', import.meta.url)));
    const im = parseIdx(new Uint8Array(raw), 't10k-images', 3);
    const lb = parseIdx(new Uint8Array(lraw), 't10k-labels', 1);
    assert.deepEqual(im.dims, [1000, 28, 28]);
    // The page's dataset and loader are the core ones: plain normalization, no augmentation.
    const set = idxDataset(
      { name: 't10k-images', bytes: new Uint8Array(raw) },
      { name: 't10k-labels', bytes: new Uint8Array(lraw) },
      idxDatasetInfo('fashion-mnist-subset'),
    );
    const loader = new DataLoader(set, {
      batchSize: 2,
      transform: { train: true, inputSize: 28, padding: 0, flip: false },
      shuffle: false,
      workers: 0,
    });
    const { x, y } = await loader.getBatch(0, 0);
    assert.deepEqual([...loader.batchIndices(0, 0)], [0, 1]);
    assert.equal(x.length, 2 * 28 * 28);
    assert.equal(y[1], lb.data[1]);
    assert.equal(x[28 * 28 + 100], Math.fround(im.data[784 + 100]! * (1 / (255 * 0.353)) - 0.286 / 0.353));
    assert.throws(() => parseIdx(new Uint8Array(raw.subarray(0, 100)), 'cut', 3), /expected 784016 bytes .*found 100/);
  });
});
