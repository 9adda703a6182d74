/**
 * `evaluate(models, dataset)`: runs one model, or an ensemble (softmax outputs averaged over the
 * models, paper Table 3), over a dataset split with 1, 10 or 144 crops per image (softmax
 * averaged over the crops), and returns top-1/top-5, per-class accuracy and the confusion matrix.
 *
 * Each model sees the dataset through its own preprocessing (the model directory's resize, crop,
 * mean, std and input channels), so an ensemble may mix models trained differently.
 */
import type { Dataset } from '../data/core.js';
import { toChannels, type RgbImage } from '../image/image.js';
import { normalizeInto } from '../image/normalize.js';
import { DatasetFormatError, OptionError } from '../errors.js';
import type { GoogLeNet, PreprocessConfig } from '../models/model.js';
import { defaultPreprocess } from '../infer/classifier.js';
import { cropViews, isCropCount, type CropCount } from './crops.js';
import { MetricsAccumulator, softmaxRows, type EvalMetrics } from './metrics.js';
import { checkFiniteLogits } from '../tensor.js';

export interface EvaluateOptions {
  /** Views per image: 1, 10 or 144. Default 1. */
  crops?: CropCount;
  /** Images per batch (each becomes `crops` rows of a forward pass). Default 64 for 1 crop, else ⌈256 / crops⌉. */
  batchSize?: number;
  /** Evaluate only the first N samples. Default: all. */
  limit?: number;
  /** Largest number of rows in one forward pass. Default 256. */
  maxRows?: number;
  /** Called after each batch with (images done, total). */
  onProgress?: (done: number, total: number) => void;
  /** Stops after the current batch; the metrics then cover the images done so far. */
  signal?: AbortSignal;
  /** Told when a model and the dataset do not match (channels), before evaluating. */
  onWarning?: (message: string) => void;
}

interface ViewSpec {
  model: GoogLeNet;
  p: PreprocessConfig;
  channels: 1 | 3;
  size: number;
}

function specOf(model: GoogLeNet): ViewSpec {
  const p = model.preprocess ?? defaultPreprocess(model.config);
  return { model, p, channels: model.config.inChannels as 1 | 3, size: model.config.inputSize };
}

/** N×C×S×S input of `images`' views for one model (views of image i are rows i·V … i·V+V−1). */
export function viewBatch(
  images: readonly RgbImage[],
  crops: CropCount,
  spec: { p: PreprocessConfig; channels: 1 | 3; size: number },
): { data: Float32Array; rows: number } {
  const per = spec.channels * spec.size * spec.size;
  const data = new Float32Array(images.length * crops * per);
  let row = 0;
  for (const img of images) {
    const views = cropViews(toChannels(img, spec.channels), crops, { inputSize: spec.size, resize: Math.max(spec.p.resize, spec.size) });
    for (const v of views) normalizeInto(v, spec.p.mean, spec.p.std, data, row++ * per);
  }
  return { data, rows: row };
}

/** Class probabilities of `images` (N×K), averaged over crops and models. */
async function predictProbabilities(
  models: readonly GoogLeNet[],
  images: readonly RgbImage[],
  crops: CropCount = 1,
  maxRows = 256,
): Promise<Float64Array> {
  const k = models[0]!.config.numClasses;
  const n = images.length;
  const out = new Float64Array(n * k);
  for (const model of models) {
    const spec = specOf(model);
    const { data, rows } = viewBatch(images, crops, spec);
    const per = spec.channels * spec.size * spec.size;
    for (let r0 = 0; r0 < rows; r0 += maxRows) {
      const r1 = Math.min(rows, r0 + maxRows);
      const x = { dims: [r1 - r0, spec.channels, spec.size, spec.size], data: data.subarray(r0 * per, r1 * per) };
      const logits = (await model.forward(x)).logits.data;
      checkFiniteLogits(logits, r1 - r0, k, models.length > 1 ? `model ${models.indexOf(model) + 1}` : 'the model');
      const probs = softmaxRows(logits, r1 - r0, k);
      for (let r = r0; r < r1; r++) {
        const img = Math.floor(r / crops);
        const w = 1 / (crops * models.length);
        for (let j = 0; j < k; j++) out[img * k + j]! += w * (probs[(r - r0) * k + j] as number);
      }
    }
  }
  return out;
}

/**
 * Evaluates a model or an ensemble on a dataset.
 * @throws OptionError when a model's class count differs from the dataset's or from the other models'.
 */
export async function evaluate(
  modelOrModels: GoogLeNet | readonly GoogLeNet[],
  dataset: Dataset,
  options: EvaluateOptions = {},
): Promise<EvalMetrics> {
  const models = Array.isArray(modelOrModels) ? (modelOrModels as readonly GoogLeNet[]) : [modelOrModels as GoogLeNet];
  if (models.length === 0) throw new OptionError('evaluate: no model given', { option: 'models' });
  const crops = options.crops ?? 1;
  if (!isCropCount(crops)) throw new OptionError(`--crops: expected 1, 10 or 144, received ${JSON.stringify(crops)}`, { option: 'crops' });
  for (const [i, m] of models.entries()) {
    if (m.config.numClasses !== dataset.numClasses) {
      throw new OptionError(`model ${i + 1} has ${m.config.numClasses} classes but dataset ${dataset.name} has ${dataset.numClasses}`, {
        option: 'models',
      });
    }
  }
  for (const [i, m] of models.entries()) {
    const c = m.config.inChannels;
    const s = m.config.inputSize;
    // Image folders have no fixed size (height null): resizing them is the preprocessing itself.
    const otherSize = dataset.height !== null && (dataset.height !== s || dataset.width !== s);
    if (dataset.channels !== c || otherSize) {
      const what = models.length > 1 ? `model ${i + 1}` : 'the model';
      const takes = `${c}-channel ${s}×${s} images`;
      const has = `${dataset.channels}-channel ${dataset.height ?? '?'}×${dataset.width ?? '?'} images`;
      const how =
        dataset.channels === c
          ? 'resized'
          : `converted (${c === 3 ? "grey replicated, PIL's convert('RGB')" : "PIL's convert('L')"}) and resized`;
      options.onWarning?.(`${what} takes ${takes} but ${dataset.name} has ${has}: they are ${how}; was it trained on this dataset?`);
    }
  }
  const total = Math.min(dataset.size, options.limit ?? Infinity);
  if (total === 0) throw new DatasetFormatError(`${dataset.name}: the evaluation set is empty (0 images); nothing to evaluate`);
  const batch = options.batchSize ?? (crops === 1 ? 64 : Math.max(1, Math.ceil(256 / crops)));
  const acc = new MetricsAccumulator(dataset.numClasses, dataset.classes);
  for (let i0 = 0; i0 < total && !options.signal?.aborted; i0 += batch) {
    const i1 = Math.min(total, i0 + batch);
    const images: RgbImage[] = [];
    const labels = new Int32Array(i1 - i0);
    for (let i = i0; i < i1; i++) {
      const s = await dataset.get(i);
      images.push(s.image);
      labels[i - i0] = s.label;
    }
    acc.add(await predictProbabilities(models, images, crops, options.maxRows ?? 256), labels);
    options.onProgress?.(i1, total);
  }
  return acc.result();
}
