/**
 * The operation table: for each kind of graph node, its shape rule, its cost, its ONNX lowering
 * and its gradient, one entry per kind (tinygrad's and PyTorch's derivatives tables). The
 * entries live in one file per family:
 *
 *   conv.ts        convolution, and sibling 1×1 convolutions fused into one (gradients in conv-grad.ts)
 *   dense.ts       fully connected layer
 *   pool.ts        max, average and adaptive average pooling
 *   norm.ts        batch norm, local response normalization, per-channel affine map
 *   activation.ts  ReLU, dropout
 *   shape.ts       concatenation, flatten
 *
 * `loss.ts` emits the softmax cross-entropy that training graphs end in; `types.ts` holds the
 * contract every entry meets, `shared.ts` the helpers they share.
 */
import { OptionError } from '../../errors.js';
import type { Graph, OpNode, Shape } from '../ir.js';
import { nodeInputs } from '../ir.js';
import { dropout, relu } from './activation.js';
import { conv, siblingconv } from './conv.js';
import { linear } from './dense.js';
import { affine, batchnorm, lrn } from './norm.js';
import { adaptiveavgpool, avgpool, maxpool } from './pool.js';
import { concat, flatten } from './shape.js';
import type { OpDef, OpTable } from './types.js';

export type * from './types.js';
export { softmaxCrossEntropy } from './loss.js';
export { scalarAfter } from './shared.js';

const OPS: OpTable = {
  conv,
  siblingconv,
  batchnorm,
  relu,
  lrn,
  maxpool,
  avgpool,
  adaptiveavgpool,
  concat,
  flatten,
  linear,
  dropout,
  affine,
};

/** The table's entry for a node. */
export function opOf(node: OpNode): OpDef<OpNode> {
  return OPS[node.op] as OpDef<OpNode>;
}

/** Output shape of a node given the graph's shapes so far. */
export function inferShape(node: OpNode, shapes: Map<string, Shape>): Shape {
  const ins = nodeInputs(node).map((v) => {
    const s = shapes.get(v);
    if (!s) throw new OptionError(`${node.id}: unknown input value "${v}"`, { option: 'inputs' });
    return s;
  });
  const out = opOf(node).shape(node, ins);
  if (out.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new OptionError(`${node.scope}: output size [${out.join('×')}] is not positive — the input is too small for this network`, {
      option: 'inputSize',
    });
  }
  return out;
}

/** Multiply-adds per sample of one node. */
export function nodeMacs(node: OpNode, g: Graph): number {
  const ins = nodeInputs(node).map((v) => g.shapes.get(v)!);
  return opOf(node).macs(node, ins, g.shapes.get(node.id)!);
}
