/**
 * The fully connected layer: y = x·Wᵀ + b.
 */
import type { LinearNode } from '../ir.js';
import { emit, prod } from './shared.js';
import type { Grads, OpDef } from './types.js';

export const linear: OpDef<LinearNode> = {
  shape: (n) => [n.outFeatures],
  macs: (n, [x]) => prod(x!) * n.outFeatures,
  lower(n, ctx) {
    const ins = [n.input, ctx.param(n.weight)];
    if (n.bias) ins.push(ctx.param(n.bias));
    ctx.b.node('Gemm', ins, [n.id], { transB: 1 });
  },
  // y = x·Wᵀ + b: dx = dy·W, dW = dyᵀ·x, db = Σ_n dy.
  backward(n, ctx, { dy, needInput, needParam }) {
    const { b } = ctx;
    const g: Grads = { inputs: [undefined], params: {} };
    if (needInput[0]) g.inputs[0] = emit(b, 'MatMul', [dy, ctx.param(n.weight)], `${n.id}.dx`);
    if (needParam(n.weight)) g.params[n.weight] = emit(b, 'Gemm', [dy, n.input], `${n.weight}.grad`, { transA: 1 });
    if (n.bias && needParam(n.bias))
      g.params[n.bias] = emit(b, 'ReduceSum', [dy, b.constInts('axes0', [0])], `${n.bias}.grad`, { keepdims: 0 });
    return g;
  },
};
