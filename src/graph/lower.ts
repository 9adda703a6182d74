/**
 * Lowers a graph to an ONNX model.
 *
 * - eval: batch norm folded into the preceding convolutions, dropout removed, every weight a
 *   constant initializer (ONNX Runtime's fastest convolution path needs constant weights).
 * - train (forward only): batch statistics normalize, dropout is live, the updated running
 *   statistics come out as extra outputs `running_mean.<bn>` / `running_var.<bn>`.
 */
import { InternalError, WeightFormatError } from '../errors.js';
import type { BatchNormNode, ConvNode, Graph, OpNode } from './ir.js';
import { nodeInputs, pruneGraph } from './ir.js';
import { OnnxGraphBuilder, type OnnxTensor, type ValueInfo } from './onnx.js';
import { opOf, type LowerCtx } from './ops/index.js';
import { quantizedLowering, type Quantization } from './quantize.js';

/** Parameter values by torchvision name (float32, or int64 for `num_batches_tracked`). */
export type Weights = Map<string, Float32Array | BigInt64Array>;

export interface LowerOptions {
  mode: 'eval' | 'train';
  weights: Weights;
  /** Which values to return, by output name. Default: the graph's outputs. */
  outputs?: Record<string, string>;
  /** Fold batch norm into convs (eval only). Default true. */
  fold?: boolean;
  /**
   * Eval only: lower as int8 QDQ with these parameters (`quantize.ts`), keyed by the folded
   * graph's parameter and value names. Default: float32 throughout.
   */
  quantization?: Quantization;
}

export interface LoweredModel {
  bytes: Uint8Array;
  inputName: string;
  /** Output names in order: the requested outputs, then train-mode side outputs. */
  outputNames: string[];
}

function asOnnxTensor(dims: readonly number[], data: Float32Array | BigInt64Array): OnnxTensor {
  return { dims, dtype: data instanceof BigInt64Array ? 'int64' : 'float32', data };
}

/**
 * Folds every batch norm that directly follows a convolution (and is its only reader) into it:
 * W' = W·γ/√(σ²+ε), b' = β + (b − μ)·γ/√(σ²+ε). Computed in float64, stored in float32.
 */
export function foldBatchNorm(g: Graph, weights: Weights): { graph: Graph; weights: Weights } {
  const readers = new Map<string, number>();
  for (const n of g.nodes) for (const v of nodeInputs(n)) readers.set(v, (readers.get(v) ?? 0) + 1);
  for (const v of Object.values(g.outputs)) readers.set(v, (readers.get(v) ?? 0) + 1);
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const out = new Map(weights);
  const params = new Map(g.params);
  const nodes: OpNode[] = [];
  const folded = new Set<string>();
  for (const n of g.nodes) {
    if (n.op === 'batchnorm') {
      const conv = byId.get(n.input);
      if (conv?.op === 'conv' && readers.get(conv.id) === 1) {
        nodes[nodes.indexOf(conv)] = foldOne(conv, n, out, params);
        folded.add(conv.id);
        continue;
      }
    }
    nodes.push(n);
  }
  return { graph: { ...g, nodes, params }, weights: out };
}

function foldOne(conv: ConvNode, bn: BatchNormNode, w: Weights, params: Graph['params']): ConvNode {
  const W = w.get(conv.weight) as Float32Array;
  const gamma = w.get(bn.weight) as Float32Array;
  const beta = w.get(bn.bias) as Float32Array;
  const mean = w.get(bn.runningMean) as Float32Array;
  const variance = w.get(bn.runningVar) as Float32Array;
  const convBias = conv.bias ? (w.get(conv.bias) as Float32Array) : undefined;
  const oc = conv.outChannels;
  const per = W.length / oc;
  const W2 = new Float32Array(W.length);
  const b2 = new Float32Array(oc);
  for (let o = 0; o < oc; o++) {
    const s = gamma[o]! / Math.sqrt(variance[o]! + bn.eps);
    for (let i = 0; i < per; i++) W2[o * per + i] = W[o * per + i]! * s;
    b2[o] = beta[o]! + ((convBias?.[o] ?? 0) - mean[o]!) * s;
  }
  const wName = `${conv.weight}:folded`;
  const bName = `${bn.scope}:folded_bias`;
  w.set(wName, W2);
  w.set(bName, b2);
  params.set(wName, { name: wName, shape: params.get(conv.weight)!.shape, role: 'conv.weight' });
  params.set(bName, { name: bName, shape: [oc], role: 'conv.bias' });
  return { ...conv, id: bn.id, weight: wName, bias: bName };
}

export function lowerToOnnx(graph: Graph, opts: LowerOptions): LoweredModel {
  let g = pruneGraph(graph, opts.outputs ?? graph.outputs);
  let weights = opts.weights;
  if (opts.mode === 'eval' && (opts.fold ?? true)) ({ graph: g, weights } = foldBatchNorm(g, weights));

  const b = new OnnxGraphBuilder();
  const side: ValueInfo[] = [];
  const ctx: LowerCtx = {
    mode: opts.mode,
    b,
    shape: (v) => {
      const s = g.shapes.get(v);
      if (!s) throw new InternalError(`lower: no shape for value ${v}`);
      return s;
    },
    param: (name) => {
      if (!b.initializers.has(name)) {
        const spec = g.params.get(name);
        const data = weights.get(name);
        if (!spec || !data) throw new WeightFormatError(`lower: no value for parameter ${name} in the weights`, { file: '<weights>' });
        b.initializer(name, asOnnxTensor(spec.shape, data));
      }
      return name;
    },
    sideOutput: (key, value, dims) => {
      b.node('Identity', [value], [key]);
      side.push({ name: key, dtype: 'float32', dims });
    },
  };

  b.input({ name: g.input.name, dtype: 'float32', dims: ['N', ...g.input.shape] });
  if (opts.quantization && opts.mode === 'eval') {
    const w = weights;
    const qz = quantizedLowering(g, opts.quantization, ctx, (name) => w.get(name) as Float32Array);
    qz.input();
    for (const n of qz.nodes) {
      opOf(n).lower(n, qz.ctx);
      qz.after(n);
    }
  } else {
    for (const n of g.nodes) opOf(n).lower(n, ctx);
  }
  const outputNames: string[] = [];
  for (const [name, value] of Object.entries(g.outputs)) {
    if (name !== value) b.node('Identity', [value], [name]);
    b.output({ name, dtype: 'float32', dims: ['N', ...g.shapes.get(value)!] });
    outputNames.push(name);
  }
  for (const s of side) {
    b.output(s);
    outputNames.push(s.name);
  }
  return { bytes: b.encode(), inputName: g.input.name, outputNames };
}
