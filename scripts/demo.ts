/**
 * The main job (`npm run demo`): train GoogLeNet's `cifar` preset on the embedded Fashion-MNIST
 * subset (3,000 training / 1,000 test images, offline), evaluate it, draw the curves and the
 * confusion matrix, classify a few test images, and say where everything is.
 *
 *   npx tsx scripts/demo.ts [--out runs/demo] [--width 0.125] [--epochs 8] [--fresh]
 *
 * The run folder is resumable: run the demo again (or Ctrl-C it and run it again) and it
 * continues from its checkpoint; `--fresh` starts over.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { load } from '../src/index.js';
import { openDataset } from '../src/data/dataset-node.js';
import { evaluate } from '../src/eval/evaluate.js';
import { formatMetrics } from '../src/eval/metrics.js';
import { writeEvalFiles } from '../src/eval/files-node.js';
import { train } from '../src/train/train-node.js';
import { loadModelDir } from '../src/weights/model-dir-node.js';

/** Chosen so that training takes about 4–5 minutes on 2 CPU cores (docs/RESULTS.md has the measurement). */
const DEFAULTS = { width: 0.125, epochs: 8, lr: 2e-3 } as const;

const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: 'runs/demo' },
    width: { type: 'string', default: String(DEFAULTS.width) },
    epochs: { type: 'string', default: String(DEFAULTS.epochs) },
    fresh: { type: 'boolean', default: false },
  },
});

const out = resolve(args.out);
const rel = (p: string): string => relative(process.cwd(), p) || '.';
const t0 = performance.now();
if (args.fresh) rmSync(out, { recursive: true, force: true });
const resume = existsSync(join(out, 'checkpoint.safetensors'));

console.log(
  `GoogLeNet (cifar preset, width ${args.width}) on the embedded Fashion-MNIST subset → ${rel(out)}${resume ? ' (resuming)' : ''}\n`,
);
const r = await train(
  {
    dataset: 'fashion-mnist-subset',
    out,
    resume,
    preset: 'cifar',
    width: Number(args.width),
    epochs: Number(args.epochs),
    batchSize: 100,
    optimizer: 'adam',
    lr: DEFAULTS.lr,
    schedule: 'cosine',
    warmupEpochs: 0.5,
    seed: 0,
  },
  { progress: 'auto' },
);
if (r.status !== 'completed') {
  console.log(`\nstopped at step ${r.position.step}; run the demo again to continue from the checkpoint`);
  process.exit(130);
}
const trained = performance.now();

// Evaluate the run folder's model (the best epoch) on the whole test split.
const test = await openDataset({ name: 'fashion-mnist-subset', split: 'test' });
const model = loadModelDir(out);
const m = await evaluate(model, test);
await model.dispose();
const evalDir = join(out, 'eval-test');
const evalFiles = await writeEvalFiles(evalDir, m, 'fashion-mnist-subset test, 1,000 images');
console.log(`\n${formatMetrics(m)}\n`);

// Classify a few test images from PNG files, as a user would.
const samples = join(out, 'samples');
mkdirSync(samples, { recursive: true });
const net = await load(out);
console.log('predictions on test images:');
for (const i of [0, 1, 2, 3, 4, 5]) {
  const s = await test.get(i * 97);
  const file = join(samples, `test-${i * 97}.png`);
  await sharp(Buffer.from(s.image.data), { raw: { width: s.image.width, height: s.image.height, channels: s.image.channels } })
    .resize(112, 112, { kernel: 'nearest' })
    .png()
    .toFile(file);
  const [top] = await net.classify(file, 2);
  const [a, b] = top!;
  const mark = a!.index === s.label ? '✓' : '✗';
  console.log(
    `  ${mark} ${rel(file)}: ${a!.label} ${(100 * a!.probability).toFixed(1)}%, ${b!.label} ${(100 * b!.probability).toFixed(1)}%  (true: ${test.classes[s.label]})`,
  );
}
await net.model.dispose();

const secs = (ms: number): string => `${(ms / 1000).toFixed(0)} s`;
console.log(`
done in ${secs(performance.now() - t0)} (training ${secs(trained - t0)})
  model directory     ${rel(out)}/  (config.json + model.safetensors: googlenet predict --model ${rel(out)} IMAGE)
  curves              ${rel(join(out, 'loss.png'))}, ${rel(join(out, 'accuracy.png'))} (and .svg)
  confusion matrix    ${evalFiles.map(rel).join(', ')}
  metrics per step    ${rel(join(out, 'metrics.jsonl'))}
  checkpoint          ${rel(join(out, 'checkpoint.safetensors'))}
  sample images       ${rel(samples)}/
Accuracy of Test Data: ${(100 * m.top1).toFixed(2)}%`);
