/**
 * Post-training static quantization of a model: batch norm folded, the activation ranges of the
 * eval graph measured on calibration batches, weights quantized per channel. The result is the
 * `Quantization` that `GoogLeNet.setQuantization` installs (its eval sessions then lower as
 * int8 QDQ) and that int8 model directories store.
 */
import { describeValue, OptionError } from '../errors.js';
import { pruneGraph } from '../graph/ir.js';
import { foldBatchNorm, lowerToOnnx } from '../graph/lower.js';
import {
  quantizeGraphWeights,
  quantPoints,
  RangeObserver,
  type ActivationQuant,
  type CalibrationMethod,
  type Quantization,
} from '../graph/quantize.js';
import { checkTensor, type Tensor } from '../tensor.js';
import type { GoogLeNet } from './model.js';

export interface CalibrateOptions {
  /** How activation ranges become parameters. Default 'percentile'. */
  method?: CalibrationMethod;
  /** The percentile of |x| kept by the 'percentile' method. Default 0.9999. */
  percentile?: number;
}

/** What the calibration saw, for the model directory's config. */
export interface CalibrationReport {
  method: CalibrationMethod;
  percentile?: number;
  samples: number;
}

/**
 * Measures the activation ranges of `model`'s eval graph over `batches` (normalized N×C×H×W
 * inputs, as `forward` takes) and quantizes its folded weights.
 * @throws OptionError when no batch was given or a batch does not fit the model.
 */
export async function calibrate(
  model: GoogLeNet,
  batches: AsyncIterable<Tensor> | Iterable<Tensor>,
  options: CalibrateOptions = {},
): Promise<{ quantization: Quantization; report: CalibrationReport }> {
  if (typeof batches !== 'object' || batches === null || !(Symbol.asyncIterator in batches || Symbol.iterator in batches)) {
    throw new OptionError(`calibrate: expected batches as an iterable of tensors, received ${describeValue(batches)}`, { option: 'calibrate' });
  }
  const method = options.method ?? 'percentile';
  const p = options.percentile ?? 0.9999;
  const full = model.graph('eval');
  const g = pruneGraph(full, { logits: full.outputs.logits! });
  const folded = foldBatchNorm(g, model.weights);
  const { calibrate: values } = quantPoints(folded.graph);
  const inner = values.slice(1);
  const lowered = lowerToOnnx(g, { mode: 'eval', weights: model.weights, outputs: Object.fromEntries(inner.map((v) => [v, v])) });
  const session = await model.engine.createSession(lowered.bytes);
  const observers = new Map(values.map((v) => [v, new RangeObserver()]));
  const [c, h, w] = g.input.shape;
  let samples = 0;
  try {
    for await (const x of batches) {
      checkTensor(x, 'calibrate');
      if (x.dims.length !== 4 || x.dims[1] !== c || x.dims[2] !== h || x.dims[3] !== w) {
        throw new OptionError(`calibration: expected N×${c}×${h}×${w} batches, got [${x.dims.join('×')}]`, { option: 'calibrate' });
      }
      observers.get(values[0]!)!.observe(x.data);
      const out = await session.run({ [g.input.name]: x });
      for (const v of inner) observers.get(v)!.observe(out[v]!.data as Float32Array);
      samples += x.dims[0]!;
    }
  } finally {
    await session.release();
  }
  if (samples === 0) throw new OptionError('calibration: no images to calibrate on', { option: 'samples' });
  const activations = new Map<string, ActivationQuant>();
  for (const [v, o] of observers) activations.set(v, o.params(method, p));
  return {
    quantization: { weights: quantizeGraphWeights(folded.graph, folded.weights), activations },
    report: { method, ...(method === 'percentile' ? { percentile: p } : {}), samples },
  };
}
