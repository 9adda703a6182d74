/**
 * The weights of int8 and fp16 model directories (format version 2), bytes in and bytes out.
 *
 * - fp16: every float tensor stored as F16 (half the bytes), widened to float32 when loaded;
 *   inference computes in float32.
 * - int8: the batch-norm-folded network as it runs: each convolution's and the classifier's
 *   weight as I8 under its torchvision name with a per-output-channel F32 `<name>_scale`, each
 *   folded bias as F32 under the batch norm's `bias` name (or the layer's own), no other
 *   batch-norm tensors. The activations' uint8 parameters are in `config.json`. Loading
 *   rebuilds float weights (q·scale, batch norm as identity) so every float path still works,
 *   and installs the int8 parameters, so inference lowers as QDQ.
 */
import { WeightFormatError } from '../errors.js';
import type { Graph } from '../graph/ir.js';
import { dequantizeWeight, type ActivationQuant, type Quantization, type QuantizedWeight } from '../graph/quantize.js';
import type { GoogLeNet } from '../models/model.js';
import type { StoredTensor } from './safetensors.js';

/** How a model directory stores its weights. */
export type ModelDType = 'fp32' | 'fp16' | 'int8';
export const MODEL_DTYPES: readonly ModelDType[] = ['fp32', 'fp16', 'int8'];

/** `config.json`'s `quantization` of an int8 directory. */
export interface QuantizationConfig {
  /** Weights: int8, symmetric, per output channel. Activations: uint8, asymmetric, per tensor. */
  scheme: 'qdq-s8-weights-u8-activations';
  method: string;
  percentile?: number;
  samples: number;
  /** The calibration dataset, e.g. "fashion-mnist (train)". */
  dataset?: string;
  /** Activation value → [scale, zero point]. */
  activations: Record<string, [number, number]>;
}

interface FoldedLayer {
  /** torchvision names of the stored weight and bias. */
  weight: string;
  bias: string | undefined;
  /** The names the folded eval graph (lower.ts's `foldBatchNorm`) gives them. */
  foldedWeight: string;
  foldedBias: string | undefined;
  /** The batch norm folded into the layer, if any. */
  bn?: { weight: string; bias: string; mean: string; variance: string; count: string; eps: number };
}

/** The convolutions and linear layers of an eval graph, with the batch norm `foldBatchNorm` folds into each. */
function foldedLayers(g: Graph): FoldedLayer[] {
  const readers = new Map<string, number>();
  for (const n of g.nodes) for (const v of n.op === 'concat' ? n.inputs : [n.input]) readers.set(v, (readers.get(v) ?? 0) + 1);
  const out: FoldedLayer[] = [];
  for (const n of g.nodes) {
    if (n.op !== 'conv' && n.op !== 'linear') continue;
    const bn = g.nodes.find((m) => m.op === 'batchnorm' && m.input === n.id);
    if (n.op === 'conv' && bn?.op === 'batchnorm' && readers.get(n.id) === 1) {
      out.push({
        weight: n.weight,
        bias: bn.bias,
        foldedWeight: `${n.weight}:folded`,
        foldedBias: `${bn.scope}:folded_bias`,
        bn: { weight: bn.weight, bias: bn.bias, mean: bn.runningMean, variance: bn.runningVar, count: bn.numBatches, eps: bn.eps },
      });
    } else out.push({ weight: n.weight, bias: n.bias, foldedWeight: n.weight, foldedBias: n.bias });
  }
  return out;
}

/** The tensors of an int8 `model.safetensors` for a model that carries a quantization. */
export function int8Tensors(model: GoogLeNet, q: Quantization, foldedBias: (name: string) => Float32Array): Map<string, StoredTensor> {
  const out = new Map<string, StoredTensor>();
  for (const l of foldedLayers(model.graph('eval'))) {
    const w = q.weights.get(l.foldedWeight);
    if (!w) throw new WeightFormatError(`int8: no quantized weight for ${l.weight}`, { file: '<quantization>' });
    out.set(l.weight, { dtype: 'I8', dims: [...w.dims], data: w.q });
    out.set(`${l.weight}_scale`, { dtype: 'F32', dims: [w.scale.length], data: w.scale });
    if (l.bias && l.foldedBias) {
      const b = foldedBias(l.foldedBias);
      out.set(l.bias, { dtype: 'F32', dims: [b.length], data: b });
    }
  }
  return out;
}

/** The activation parameters as `config.json` stores them. */
export function activationsConfig(q: Quantization): Record<string, [number, number]> {
  return Object.fromEntries([...q.activations].map(([k, a]) => [k, [a.scale, a.zeroPoint]]));
}

/**
 * Loads an int8 `model.safetensors` into `model`: float weights rebuilt (q·scale, folded batch
 * norms as identity), the int8 parameters installed.
 */
export function loadInt8(model: GoogLeNet, sd: Map<string, StoredTensor>, cfg: QuantizationConfig, file: string): void {
  const weights: Quantization['weights'] = new Map();
  const need = (key: string, dtype: string): StoredTensor => {
    const t = sd.get(key);
    if (!t) throw new WeightFormatError(`${file}: missing "${key}" of an int8 model`, { file });
    if (t.dtype !== dtype) throw new WeightFormatError(`${file}: "${key}" is ${t.dtype}, expected ${dtype}`, { file });
    return t;
  };
  for (const l of foldedLayers(model.graph('eval'))) {
    const t = need(l.weight, 'I8');
    const qw: QuantizedWeight = { dims: t.dims, q: t.data as Int8Array, scale: need(`${l.weight}_scale`, 'F32').data as Float32Array };
    if (qw.scale.length !== t.dims[0])
      throw new WeightFormatError(`${file}: "${l.weight}_scale" has ${qw.scale.length} values for ${t.dims[0]} channels`, { file });
    weights.set(l.foldedWeight, qw);
    model.weights.set(l.weight, dequantizeWeight(qw));
    if (l.bias) model.weights.set(l.bias, Float32Array.from(need(l.bias, 'F32').data as Float32Array));
    if (l.bn) {
      const c = qw.scale.length;
      model.weights.set(l.bn.weight, new Float32Array(c).fill(1));
      model.weights.set(l.bn.mean, new Float32Array(c));
      model.weights.set(l.bn.variance, new Float32Array(c).fill(1 - l.bn.eps));
      model.weights.set(l.bn.count, new BigInt64Array(1));
    }
  }
  const activations = new Map<string, ActivationQuant>();
  for (const [k, v] of Object.entries(cfg.activations)) {
    if (!Array.isArray(v) || typeof v[0] !== 'number' || typeof v[1] !== 'number' || !(v[0] > 0) || v[1] < 0 || v[1] > 255) {
      throw new WeightFormatError(`${file}: quantization.activations["${k}"] must be [scale > 0, zero point in 0…255]`, { file });
    }
    activations.set(k, { scale: v[0], zeroPoint: v[1] });
  }
  model.invalidate();
  model.setQuantization({ weights, activations });
}

/** The state dict narrowed to F16 (counters stay I64). */
export function fp16Tensors(sd: Map<string, StoredTensor>): Map<string, StoredTensor> {
  return new Map([...sd].map(([k, t]) => [k, t.dtype === 'F32' ? { ...t, dtype: 'F16' as const } : t]));
}
