/**
 * Node-side fixtures of the browser tests: model directories with weights that give O(1)
 * activations (so that logit parity means something), exported with `googlenet export
 * --format web`; pictures (a colour PNG, an enormous PNG, files that are not pictures); and the
 * CLI's own answers (`googlenet predict --logits --json`).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import '../../src/runtime/engine-node.js';
import { Rng } from '../../src/rng.js';
import { GoogLeNet } from '../../src/models/model.js';
import type { ModelOptions } from '../../src/models/config.js';
import type { PreprocessConfig } from '../../src/models/model.js';
import { saveModelDir } from '../../src/weights/model-dir-node.js';
import { REPO } from './harness.js';

/** Runs the `googlenet` CLI from source; returns stdout. */
export function googlenet(...args: string[]): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'src', 'cli', 'main.ts'), ...args], {
    cwd: REPO,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`googlenet ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

/**
 * A model whose weights keep activations near unit scale: He-normal convs, random batch-norm
 * affine parameters and running statistics. Saved as a model directory in `dir`.
 */
export function makeModelDir(dir: string, options: ModelOptions, preprocess: PreprocessConfig, seed = 7, labels?: string[]): GoogLeNet {
  const model = new GoogLeNet(options, { seed });
  const rng = new Rng(seed + 1);
  for (const p of model.paramSpecs()) {
    const w = model.weights.get(p.name);
    if (!(w instanceof Float32Array)) continue;
    const fanIn = p.shape.slice(1).reduce((a, b) => a * b, 1);
    for (let i = 0; i < w.length; i++) {
      switch (p.role) {
        case 'conv.weight':
          w[i] = rng.normal() * Math.sqrt(2 / fanIn);
          break;
        case 'linear.weight':
          w[i] = rng.normal() * Math.sqrt(1 / fanIn);
          break;
        case 'bn.weight':
        case 'bn.running_var':
          w[i] = 0.5 + rng.float();
          break;
        case 'bn.bias':
        case 'bn.running_mean':
        case 'conv.bias':
        case 'linear.bias':
          w[i] = rng.normal() * 0.1;
          break;
        default:
          break;
      }
    }
  }
  model.invalidate();
  model.labels = labels ?? Array.from({ length: model.config.numClasses }, (_, i) => `class ${i}`);
  model.preprocess = preprocess;
  saveModelDir(model, dir, { source: 'test fixture (random O(1) weights)' });
  return model;
}

/** `googlenet export --model src --format web -o out`. */
export function exportWeb(src: string, out: string): void {
  googlenet('export', '--model', src, '--format', 'web', '-o', out);
}

/** The logits `googlenet predict --logits --json` prints for one picture. */
export function nodeLogits(modelDir: string, picture: string): number[] {
  const out = JSON.parse(googlenet('predict', '--model', modelDir, '--logits', '--json', picture)) as { logits: number[] }[];
  return out[0]!.logits;
}

/** A deterministic colour picture (smooth gradients, rings and noise), PNG. */
export async function colourPicture(file: string, width = 97, height = 73, seed = 3): Promise<void> {
  const rng = new Rng(seed);
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const r = Math.hypot(x - width / 2, y - height / 2);
      px[i] = Math.max(0, Math.min(255, Math.round((255 * x) / width + 20 * rng.normal())));
      px[i + 1] = Math.max(0, Math.min(255, Math.round(128 + 100 * Math.sin(r / 5) + 10 * rng.normal())));
      px[i + 2] = Math.max(0, Math.min(255, Math.round((255 * y) / height)));
    }
  }
  await sharp(px, { raw: { width, height, channels: 3 } })
    .png()
    .toFile(file);
}

/** A PNG of `width`×`height`: a coarse gradient upscaled (nearest), so that it compresses to little. */
export async function enormousPicture(file: string, width: number, height: number): Promise<void> {
  const tw = Math.ceil(width / 100);
  const th = Math.ceil(height / 100);
  const tile = Buffer.alloc(tw * th * 3);
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) {
      const i = (y * tw + x) * 3;
      tile[i] = Math.round((255 * x) / tw);
      tile[i + 1] = 90;
      tile[i + 2] = Math.round((255 * y) / th);
    }
  }
  await sharp(tile, { raw: { width: tw, height: th, channels: 3 } })
    .resize(width, height, { kernel: 'nearest' })
    .png({ compressionLevel: 9 })
    .toFile(file);
}

/** Files that are not pictures, and a damaged one. */
export function badFiles(dir: string, goodPng: string): { text: string; fakePng: string; truncated: string; empty: string } {
  mkdirSync(dir, { recursive: true });
  const text = join(dir, 'notes.txt');
  writeFileSync(text, 'These are not pixels.\n');
  const fakePng = join(dir, 'holiday.png');
  writeFileSync(fakePng, '{"this": "is JSON with a .png name"}\n');
  const truncated = join(dir, 'cut.png');
  const bytes = readFileSync(goodPng);
  writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 3)));
  const empty = join(dir, 'empty.png');
  writeFileSync(empty, '');
  return { text, fakePng, truncated, empty };
}

/** A model directory whose weight file belongs to another config (width 0.125 weights, width 0.25 config). */
export function mismatchedModelDir(dir: string, configFrom: string, weightsFrom: string): void {
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(configFrom, 'config.json'), join(dir, 'config.json'));
  copyFileSync(join(weightsFrom, 'model.safetensors'), join(dir, 'model.safetensors'));
}

/** ‖a − b‖ / ‖b‖. */
export function relErr(a: readonly number[], b: readonly number[]): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num) / Math.sqrt(den);
}
