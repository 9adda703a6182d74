/**
 * Calibration batches for post-training quantization: `samples` images drawn without
 * replacement from a dataset by a seeded shuffle (the same seed picks the same images), each
 * prepared as the model's evaluation sees it (its resize, centre crop, mean and std).
 */
import type { Dataset } from '../data/core.js';
import { OptionError } from '../errors.js';
import { defaultPreprocess } from '../infer/classifier.js';
import type { GoogLeNet } from '../models/model.js';
import { Rng } from '../rng.js';
import type { Tensor } from '../tensor.js';
import { viewBatch } from './evaluate.js';

export interface CalibrationBatchOptions {
  /** Images to calibrate on (at most the dataset's size). Default 500. */
  samples?: number;
  /** Seed of the draw. Default 0. */
  seed?: number;
  /** Images per forward pass. Default 32. */
  batchSize?: number;
}

/** The indices `calibrationBatches` uses: the first `samples` of a seeded Fisher–Yates shuffle. */
export function calibrationIndices(size: number, samples: number, seed = 0): number[] {
  const idx = Array.from({ length: size }, (_, i) => i);
  const rng = new Rng(seed);
  const n = Math.min(samples, size);
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(size - i);
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, n);
}

/**
 * Normalized N×C×H×W batches of `samples` images of `dataset` for `model`.
 * @throws OptionError when `samples` < 1 or the dataset's channels differ from the model's input.
 */
export async function* calibrationBatches(
  model: GoogLeNet,
  dataset: Dataset,
  options: CalibrationBatchOptions = {},
): AsyncGenerator<Tensor> {
  const samples = options.samples ?? 500;
  if (!Number.isInteger(samples) || samples < 1)
    throw new OptionError(`--samples: expected an integer ≥ 1, received ${samples}`, { option: '--samples' });
  const c = model.config.inChannels;
  if (dataset.channels !== c) {
    throw new OptionError(
      `--calibrate: dataset ${dataset.name} has ${dataset.channels}-channel images, the model takes ${c} channel${c === 1 ? '' : 's'}`,
      {
        option: '--calibrate',
      },
    );
  }
  const spec = { p: model.preprocess ?? defaultPreprocess(model.config), channels: c as 1 | 3, size: model.config.inputSize };
  const idx = calibrationIndices(dataset.size, samples, options.seed ?? 0);
  const bs = options.batchSize ?? 32;
  for (let i0 = 0; i0 < idx.length; i0 += bs) {
    const images = [];
    for (const i of idx.slice(i0, i0 + bs)) images.push((await dataset.get(i)).image);
    const { data, rows } = viewBatch(images, 1, spec);
    yield { dims: [rows, c, spec.size, spec.size], data };
  }
}
