/**
 * The data-pipeline cases of `npm run bench` (issue 3 §4): does training from a JPEG image folder
 * — decoding and augmentation in the DataLoader's worker threads, batches prefetched — run as fast
 * as training on tensors already in memory?
 *
 * Both modes run the same training step in the same process, alternating round by round:
 *   tensors  `step.step(x, y)` on batches made before timing (no data work at all: the ceiling);
 *   folder   `for await (batch of loader.epoch(e)) step.step(batch)` over a folder of JPEG files
 *            with the CLI's defaults for image folders (Inception crop + flip, 1 worker, prefetch 2).
 * The time of a mode is the wall time of all its timed steps, waits for data included (a median
 * would hide stalls); its first steps of each round are warm-up, so the loader starts each timed
 * stretch with its prefetch queue as it stands in the middle of an epoch.
 *
 * Cases:
 *   pipeline_cifar   cifar preset (width 1) at 32×32, batch 64, on 32×32 JPEGs (CIFAR-10 saved as files)
 *   pipeline_narrow  the same at width 0.125 (the shipped Fashion-MNIST model's width): a step
 *                    ~13× cheaper, so the data pipeline has the least time to hide in
 *   pipeline_bn224   bn preset at 224×224, batch 16, on photo-sized JPEGs (320–500 px, ImageNet-like)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Rng } from '../src/rng.js';

export const PIPELINE_CASES = ['pipeline_cifar', 'pipeline_narrow', 'pipeline_bn224'] as const;

interface PipelineSpec {
  preset: 'cifar' | 'bn';
  width: number;
  inputSize: number;
  batch: number;
  /** Images in the folder (enough for every round's steps without wrapping the epoch). */
  images: number;
  /** [min, max] side of the generated JPEGs. */
  side: [number, number];
  /** Timed steps per round (full, quick), warm-up steps per round, rounds. */
  steps: [number, number];
  warmup: number;
  rounds: number;
}

const SPECS: Record<(typeof PIPELINE_CASES)[number], PipelineSpec> = {
  pipeline_cifar: {
    preset: 'cifar',
    width: 1,
    inputSize: 32,
    batch: 64,
    images: 1280,
    side: [32, 32],
    steps: [4, 2],
    warmup: 1,
    rounds: 2,
  },
  pipeline_narrow: {
    preset: 'cifar',
    width: 0.125,
    inputSize: 32,
    batch: 64,
    images: 6400,
    side: [32, 32],
    steps: [24, 10],
    warmup: 3,
    rounds: 3,
  },
  pipeline_bn224: { preset: 'bn', width: 1, inputSize: 224, batch: 16, images: 256, side: [320, 500], steps: [3, 2], warmup: 1, rounds: 2 },
};

/** One mode's measurement. */
export interface ModeResult {
  batch: number;
  /** Wall time of each round's timed steps. */
  round_s: number[];
  steps: number;
  img_s: number;
}

export interface PipelineResult {
  tensors: ModeResult;
  folder: ModeResult;
  workers: number;
  prefetch: number;
  images: number;
  jpeg_bytes_mean: number;
  peak_rss_mib: number;
  load_before: number;
  load_after: number;
  setup_s: number;
}

/**
 * Writes `n` JPEG files (quality 90) in 10 class folders: smooth colour fields upsampled from a
 * coarse random grid plus pixel noise, so they compress and decode like photographs rather than
 * like flat colour or pure noise (`grey`: one-channel JPEGs). Returns the mean file size.
 */
export async function makeJpegFolder(root: string, n: number, side: [number, number], { grey = false } = {}): Promise<number> {
  const rand = new Rng(20261122);
  let bytes = 0;
  for (let c = 0; c < 10; c++) await mkdir(join(root, `class${c}`), { recursive: true });
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const w = side[0] + rand.int(side[1] - side[0] + 1);
    const h = side[0] + rand.int(side[1] - side[0] + 1);
    const g = 6;
    const coarse = Buffer.alloc(g * g * 3);
    for (let k = 0; k < coarse.length; k++) coarse[k] = rand.int(256);
    const noise = rand.fork();
    jobs.push(
      (async () => {
        const smooth = await sharp(coarse, { raw: { width: g, height: g, channels: 3 } })
          .resize(w, h, { kernel: 'cubic' })
          .raw()
          .toBuffer();
        for (let k = 0; k < smooth.length; k++)
          smooth[k] = Math.max(0, Math.min(255, (smooth[k] as number) + Math.round(noise.uniform(-12, 12))));
        const img = sharp(smooth, { raw: { width: w, height: h, channels: 3 } });
        const { size } = await (grey ? img.greyscale() : img)
          .jpeg({ quality: 90 })
          .toFile(join(root, `class${i % 10}`, `${String(i).padStart(5, '0')}.jpg`));
        bytes += size;
      })(),
    );
    if (jobs.length >= 16) await Promise.all(jobs.splice(0));
  }
  await Promise.all(jobs);
  return bytes / n;
}

/** Runs one pipeline case in this process. */
export async function runPipelineCase(c: string, o: { threads: number; quick: boolean }): Promise<PipelineResult> {
  const spec = SPECS[c as (typeof PIPELINE_CASES)[number]];
  if (!spec) throw new Error(`unknown pipeline case ${c}`);
  await import('../src/runtime/engine-node.js');
  const { GoogLeNet } = await import('../src/models/model.js');
  const { createTrainStep } = await import('../src/train/engine.js');
  const { openImageFolder } = await import('../src/data/folder-node.js');
  const { DataLoader } = await import('../src/data/loader-node.js');

  const load_before = loadavg()[0]!;
  const t0 = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'googlenet-bench-jpeg-'));
  try {
    const jpegBytes = await makeJpegFolder(dir, spec.images, spec.side);
    const dataset = await openImageFolder(dir);
    const S = spec.inputSize;
    // What `googlenet train --dataset folder` does: Inception crop + flip, no padding, 1 worker.
    const loader = new DataLoader(dataset, {
      batchSize: spec.batch,
      transform: { train: true, inputSize: S, inceptionCrop: true, flip: true, padding: 0, channels: 3 },
      seed: 0,
      dropLast: true,
      workers: 1,
    });
    const m = new GoogLeNet({ preset: spec.preset, numClasses: 10, width: spec.width, inputSize: S }, { threads: o.threads });
    const step = createTrainStep(m, { optimizer: { type: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 5e-4 }, threads: o.threads });

    // The tensors mode's batches: the first batches of an epoch of the same loader, made up front.
    const stepsPerRound = o.quick ? spec.steps[1] : spec.steps[0];
    const held: { x: { dims: number[]; data: Float32Array }; y: Int32Array }[] = [];
    for await (const b of loader.epoch(1000)) {
      held.push({ x: { dims: b.dims, data: b.x }, y: b.y });
      if (held.length === Math.min(4, stepsPerRound + spec.warmup)) break;
    }
    await step.step(held[0]!.x, held[0]!.y);
    const setup_s = (performance.now() - t0) / 1000;

    const tensorRounds: number[] = [];
    const folderRounds: number[] = [];
    const perRound = spec.warmup + stepsPerRound;
    if (perRound * spec.rounds > loader.numBatches)
      throw new Error(`${c}: ${loader.numBatches} batches per epoch cannot hold ${spec.rounds} rounds of ${perRound} steps`);
    const epoch = loader.epoch(0);
    for (let r = 0; r < spec.rounds; r++) {
      for (let i = 0; i < spec.warmup; i++) await step.step(held[i % held.length]!.x, held[i % held.length]!.y);
      let t = performance.now();
      for (let i = 0; i < stepsPerRound; i++) {
        const b = held[i % held.length]!;
        await step.step(b.x, b.y);
      }
      tensorRounds.push((performance.now() - t) / 1000);

      // The folder mode continues one epoch across rounds: its warm-up steps are real steps.
      for (let i = 0; i < spec.warmup; i++) {
        const { value: b } = await epoch.next();
        if (!b) throw new Error(`${c}: the epoch ended early`);
        await step.step({ dims: b.dims, data: b.x }, b.y);
      }
      t = performance.now();
      for (let i = 0; i < stepsPerRound; i++) {
        const { value: b } = await epoch.next();
        if (!b) throw new Error(`${c}: the epoch ended early`);
        await step.step({ dims: b.dims, data: b.x }, b.y);
      }
      folderRounds.push((performance.now() - t) / 1000);
    }
    await epoch.return(undefined);
    await loader.close();
    await step.dispose();
    const mode = (rounds: number[]): ModeResult => {
      const steps = rounds.length * stepsPerRound;
      return { batch: spec.batch, round_s: rounds, steps, img_s: (steps * spec.batch) / rounds.reduce((a, b) => a + b, 0) };
    };
    return {
      tensors: mode(tensorRounds),
      folder: mode(folderRounds),
      workers: loader.workers,
      prefetch: loader.prefetch,
      images: spec.images,
      jpeg_bytes_mean: jpegBytes,
      peak_rss_mib: process.resourceUsage().maxRSS / 1024,
      load_before,
      load_after: loadavg()[0]!,
      setup_s,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
