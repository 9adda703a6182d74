/**
 * `npm run bench:quantize`: int8 (QDQ, calibrated here) against fp32, same process, same
 * threads, rounds alternating: img/s at batch 1 and 16 for the 224² torchvision network (random
 * weights, seed 0) and the shipped Fashion-MNIST model; top-1 agreement and relative logit error
 * of the 224² network on the embedded Fashion-MNIST subset (greyscale → RGB, resized), and bytes
 * on disk of each dtype; with --inception-v3 the same for Inception v3 at 299² (random He-scaled
 * weights, as the 224² GoogLeNet). A benchmark, never a test.
 *
 *   npm run bench:quantize -- [--threads 2] [--images 300] [--calibration 200] [--inception-v3] [--skip-fashion-mnist] [--json]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { calibrate, data, GoogLeNet, loadModelDir, saveModelDir, type Tensor } from '../src/index.js';
import { viewBatch } from '../src/eval/evaluate.js';
import { defaultPreprocess } from '../src/infer/classifier.js';
import { getDefaultEngine } from '../src/advanced.js';
import { cpuInfo } from './profile.js';

const arg = (name: string, d: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const threads = arg('--threads', 2);
const images = arg('--images', 300);
const calibration = arg('--calibration', 200);

async function batches(model: GoogLeNet, split: 'train' | 'test', n: number, bs: number): Promise<Tensor[]> {
  const ds = await data.openDataset({ name: 'fashion-mnist-subset', split });
  const spec = {
    p: model.preprocess ?? defaultPreprocess(model.config),
    channels: model.config.inChannels as 1 | 3,
    size: model.config.inputSize,
  };
  const out: Tensor[] = [];
  for (let i0 = 0; i0 < Math.min(n, ds.size); i0 += bs) {
    const imgs = [];
    for (let i = i0; i < Math.min(n, ds.size, i0 + bs); i++) imgs.push((await ds.get(i)).image);
    const { data: d, rows } = viewBatch(imgs, 1, spec);
    out.push({ dims: [rows, spec.channels, spec.size, spec.size], data: d });
  }
  return out;
}

async function imgPerSec(model: GoogLeNet, x: Tensor, seconds: number): Promise<number> {
  await model.forward(x); // warm-up (session creation)
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    await model.forward(x);
    n += x.dims[0]!;
  }
  return n / ((performance.now() - t0) / 1000);
}

function compare(a: Float32Array, b: Float32Array, k: number): { agree: number; rel: number } {
  let agree = 0;
  let num = 0;
  let den = 0;
  const arg = (x: Float32Array, i: number): number => {
    let best = 0;
    for (let j = 1; j < k; j++) if (x[i * k + j]! > x[i * k + best]!) best = j;
    return best;
  };
  for (let i = 0; i < a.length / k; i++) if (arg(a, i) === arg(b, i)) agree++;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += a[i]! ** 2;
  }
  return { agree: agree / (a.length / k), rel: Math.sqrt(num / den) };
}

async function bench(name: string, model: GoogLeNet, out: Record<string, unknown>, dir: string): Promise<void> {
  const calib = await batches(model, 'train', calibration, 20);
  const { quantization } = await calibrate(model, calib);
  const test = await batches(model, 'test', images, 20);
  const fp32: Float32Array[] = [];
  const int8: Float32Array[] = [];
  for (const x of test) fp32.push((await model.forward(x)).logits.data);
  model.setQuantization(quantization);
  for (const x of test) int8.push((await model.forward(x)).logits.data);
  const cat = (xs: Float32Array[]): Float32Array => Float32Array.from(xs.flatMap((x) => [...x]));
  const acc = compare(cat(fp32), cat(int8), model.config.numClasses);
  const sizes: Record<string, number> = {};
  for (const dtype of ['fp32', 'fp16', 'int8'] as const) {
    saveModelDir(model, join(dir, `${name}-${dtype}`), { dtype });
    sizes[dtype] = statSync(join(dir, `${name}-${dtype}`, 'model.safetensors')).size;
  }
  const speed: Record<string, number[]> = {};
  const x1 = { dims: [1, ...test[0]!.dims.slice(1)], data: test[0]!.data.slice(0, test[0]!.data.length / test[0]!.dims[0]!) };
  const x16 = { dims: [16, ...test[0]!.dims.slice(1)], data: test[0]!.data.slice(0, (16 * test[0]!.data.length) / test[0]!.dims[0]!) };
  const load0 = loadavg()[0]!;
  for (let round = 0; round < 3; round++) {
    for (const q of [undefined, quantization]) {
      model.setQuantization(q);
      for (const [b, x] of [
        [1, x1],
        [16, x16],
      ] as const) {
        const key = `${q ? 'int8' : 'fp32'}_b${b}`;
        (speed[key] ??= []).push(await imgPerSec(model, x, 3));
      }
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const med = Object.fromEntries(Object.entries(speed).map(([k, v]) => [k, Math.round(median(v) * 10) / 10]));
  out[name] = {
    images: test.reduce((s, x) => s + x.dims[0]!, 0),
    top1Agreement: acc.agree,
    relLogitError: acc.rel,
    sizes,
    imgPerSec: med,
    load: [load0, loadavg()[0]],
  };
  await model.dispose();
}

const dir = mkdtempSync(join(tmpdir(), 'googlenet-bench-quantize-'));
// The CPU decides the kernels, and whether the engine runs the stored ±127 weights or ±63.
const out: Record<string, unknown> = { cpu: cpuInfo(), int8Weights: getDefaultEngine().int8Saturates ? '±63' : '±127', threads };
try {
  if (!process.argv.includes('--skip-fashion-mnist'))
    await bench('fashion-mnist', loadModelDir(join(import.meta.dirname, '..', 'models', 'fashion-mnist'), { threads }), out, dir);
  // torchvision's initialization (N(0, 0.01²) for GoogLeNet, N(0, 0.1²) for Inception v3) with
  // identity batch norms makes activations vanish layer by layer (logits ≈ the classifier's bias
  // for every image), so the comparison uses He initialization (std √(2/fan_in)) for the
  // convolutions, which keeps them at scale.
  const heScaled = (m: GoogLeNet): GoogLeNet => {
    for (const p of m.paramSpecs()) {
      if (p.role !== 'conv.weight') continue;
      const w = m.weights.get(p.name) as Float32Array;
      let sq = 0;
      for (const v of w) sq += v * v;
      const k = Math.sqrt(2 / (p.shape[1]! * p.shape[2]! * p.shape[3]!)) / Math.sqrt(sq / w.length);
      for (let i = 0; i < w.length; i++) w[i]! *= k;
    }
    m.invalidate();
    return m;
  };
  if (!process.argv.includes('--skip-torchvision'))
    await bench('torchvision-224-random-he', heScaled(new GoogLeNet({ preset: 'torchvision' }, { threads, seed: 0 })), out, dir);
  if (process.argv.includes('--inception-v3'))
    await bench('inception_v3-299-random-he', heScaled(new GoogLeNet({ arch: 'inception_v3' }, { threads, seed: 0 })), out, dir);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify(out, null, 2));
