/**
 * int8 post-training quantization on the shipped Fashion-MNIST model, calibrated on the embedded
 * Fashion-MNIST subset (no download): int8 logits near fp32, the same on this CPU's integer
 * kernels as on WebAssembly's (x86 without VNNI saturates int16 sums of ±127 weights, and runs
 * ±63 ones instead), calibration deterministic for a seed, int8 and fp16 model directories
 * round-trip, and the CLI's bad inputs get one line and exit 1. Kept small (64 calibration
 * images, 64 compared) for a 2-core CI.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import {
  canSaturate,
  modelDirFiles,
  modelFromFiles,
  ortEngine,
  parseModelDirConfig,
  relativeError,
  SAFE_WEIGHT_QMAX,
  saturationSafe,
  type OrtModule,
} from '../src/advanced.js';
import {
  calibrate,
  calibrationBatches,
  calibrationIndices,
  data,
  GoogLeNet,
  loadModelDir,
  saveModelDir,
  type Quantization,
  type Tensor,
} from '../src/index.js';
import { cli, REPO } from './cli-run.js';

const FM = join(REPO, 'models', 'fashion-mnist');

async function subsetBatch(model: GoogLeNet, n: number, seed: number): Promise<Tensor> {
  const ds = await data.openDataset({ name: 'fashion-mnist-subset', split: 'test' });
  const parts: Tensor[] = [];
  for await (const b of calibrationBatches(model, ds, { samples: n, seed, batchSize: n })) parts.push(b);
  return parts[0]!;
}

function argmax(row: ArrayLike<number>, k: number, i: number): number {
  let best = 0;
  for (let j = 1; j < k; j++) if (row[i * k + j]! > row[i * k + best]!) best = j;
  return best;
}

test('int8 logits stay near fp32 on the Fashion-MNIST model; calibration is deterministic per seed', async () => {
  const model = loadModelDir(FM, { threads: 1 });
  const train = await data.openDataset({ name: 'fashion-mnist-subset', split: 'train' });
  const a = await calibrate(model, calibrationBatches(model, train, { samples: 64, seed: 3 }));
  const b = await calibrate(model, calibrationBatches(model, train, { samples: 64, seed: 3 }));
  assert.deepEqual([...a.quantization.activations], [...b.quantization.activations], 'same seed, same parameters');
  assert.notDeepEqual(calibrationIndices(train.size, 64, 3), calibrationIndices(train.size, 64, 4), 'another seed draws other images');
  assert.equal(a.report.samples, 64);

  const x = await subsetBatch(model, 64, 9);
  const fp32 = (await model.forward(x)).logits.data;
  model.setQuantization(a.quantization);
  const int8 = (await model.forward(x)).logits.data;
  let agree = 0;
  let num = 0;
  let den = 0;
  for (let i = 0; i < 64; i++) if (argmax(fp32, 10, i) === argmax(int8, 10, i)) agree++;
  for (let i = 0; i < fp32.length; i++) {
    num += (fp32[i]! - int8[i]!) ** 2;
    den += fp32[i]! ** 2;
  }
  const rel = Math.sqrt(num / den);
  process.stderr.write(`# int8 vs fp32: ${agree}/64 top-1 agree, relative logit error ${rel.toFixed(4)}\n`);
  // Measured on AVX-512 VNNI: 63/64 agree, relative logit error 0.049 (0.050 with ±63 weights);
  // an AVX2-only CPU running ±127 weights gave 0.109 (saturation).
  assert.ok(agree >= 60, `top-1 agreement ${agree}/64`);
  assert.ok(rel < 0.07, `relative logit error ${rel.toFixed(4)} (tolerance 0.07)`);
  assert.ok(rel > 0, 'int8 really ran (logits differ from fp32)');

  // Saturation, caught whatever CPU this runs on: this engine's int8 logits must equal those of
  // WebAssembly's kernels (which accumulate in int32 and never saturate) on the same effective
  // weights. An AVX2-only CPU running ±127 weights differed by ~0.1; one that runs them at ±63,
  // as `int8Saturates` makes it, computes WebAssembly's logits.
  const wasmEngine = ortEngine(ortWeb as unknown as OrtModule, { name: 'wasm', device: 'wasm' });
  const onWasm = async (q: Quantization): Promise<Float32Array> => {
    const m = loadModelDir(FM, { threads: 1, engine: wasmEngine });
    m.setQuantization(q);
    const out = (await m.forward(x)).logits.data;
    await m.dispose();
    return out;
  };
  const effective = model.effectiveQuantization!;
  const here = relativeError(int8, await onWasm(effective));
  process.stderr.write(
    `# int8 here (${model.engine.int8Saturates ? '±63' : '±127'} weights) vs WebAssembly: relative logit error ${here.toExponential(2)}\n`,
  );
  assert.ok(here < 1e-5, `int8 logits here differ from WebAssembly's by ${here} (saturating integer kernels?)`);
  if (model.engine.int8Saturates) assert.deepEqual([...effective.weights.values()].filter(canSaturate), []);

  // The saturation-safe path, on any CPU: an engine that says its kernels saturate runs ±63
  // weights, none of which can (and the ±127 ones of this model could: the check has teeth).
  const weights = [...a.quantization.weights.values()];
  assert.ok(weights.some(canSaturate), '±127 weights of this model can saturate vpmaddubsw');
  const safeEngine = ortEngine(ortNode as unknown as OrtModule, { name: 'cpu, saturating', int8Saturates: true });
  const safe = loadModelDir(FM, { threads: 1, engine: safeEngine });
  safe.setQuantization(a.quantization);
  const safeQ = safe.effectiveQuantization!;
  assert.equal(safeQ, saturationSafe(a.quantization));
  assert.deepEqual([...safeQ.weights.values()].filter(canSaturate), [], 'no output channel has two weights whose |q| sum past 128');
  assert.ok([...safeQ.weights.values()].every((w) => w.q.every((v) => Math.abs(v) <= SAFE_WEIGHT_QMAX)));
  const safeLogits = (await safe.forward(x)).logits.data;
  assert.ok(relativeError(safeLogits, await onWasm(safeQ)) < 1e-5, 'the ±63 weights give the logits WebAssembly gives');
  assert.ok(relativeError(safeLogits, fp32) < 0.07, 'and stay near fp32');
  await safe.dispose();

  // Round trip through the model-directory bytes: same parameters, same logits, bit for bit.
  const files = modelDirFiles(model, { calibration: a.report });
  const cfg = parseModelDirConfig(new TextDecoder().decode(files['config.json']), 'config.json');
  assert.equal(cfg.dtype, 'int8');
  assert.equal(cfg.version, 2);
  const back = modelFromFiles(cfg, files['model.safetensors'], { config: 'config.json', weights: 'model.safetensors' }, { threads: 1 });
  assert.deepEqual([...back.quantization!.activations], [...a.quantization.activations]);
  assert.deepEqual((await back.forward(x)).logits.data, int8, 'the loaded int8 model computes the same logits');
  assert.ok(files['model.safetensors'].length < statSync(join(FM, 'model.safetensors')).size / 3, 'int8 weights are under a third of fp32');

  await Promise.all([model.dispose(), back.dispose()]);
});

test('fp16 model directories: half the bytes, logits near fp32', async () => {
  const model = loadModelDir(FM, { threads: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'googlenet-fp16-'));
  try {
    saveModelDir(model, dir, { dtype: 'fp16' });
    const back = loadModelDir(dir, { threads: 1 });
    assert.ok(statSync(join(dir, 'model.safetensors')).size < statSync(join(FM, 'model.safetensors')).size * 0.55);
    const x = await subsetBatch(model, 16, 1);
    const [p, q] = [(await model.forward(x)).logits.data, (await back.forward(x)).logits.data];
    let worst = 0;
    for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i]! - q[i]!));
    assert.ok(worst < 0.05, `fp16 weights change logits by at most ${worst}`);
    await Promise.all([model.dispose(), back.dispose()]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('googlenet quantize: bad input gets one line and exit 1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'googlenet-quantize-cli-'));
  try {
    const rgb = join(dir, 'rgb');
    saveModelDir(new GoogLeNet({ preset: 'cifar', width: 0.125, numClasses: 10, inputSize: 32 }), rgb);
    const int8 = join(dir, 'int8');
    const model = loadModelDir(FM, { threads: 1 });
    const train = await data.openDataset({ name: 'fashion-mnist-subset', split: 'train' });
    const { quantization, report } = await calibrate(model, calibrationBatches(model, train, { samples: 8 }));
    model.setQuantization(quantization);
    saveModelDir(model, int8, { calibration: report });
    await model.dispose();
    const cases: [string[], RegExp][] = [
      [['--model', int8], /already int8/],
      [['--model', rgb], /1-channel images, the model takes 3 channels/],
      [['--model', FM, '--samples', '0'], /--samples expects an integer ≥ 1, received "0"/],
    ];
    for (const [args, message] of cases) {
      const r = cli('quantize', '--calibrate', 'fashion-mnist-subset', '-o', join(dir, 'out'), ...args);
      assert.equal(r.status, 1, args.join(' '));
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, message);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
