/**
 * Operations that only move values: channel concatenation (an Inception module's output) and
 * flattening a feature map into a vector.
 */
import { OptionError } from '../../errors.js';
import type { ConcatNode, FlattenNode } from '../ir.js';
import { chw, emit, prod } from './shared.js';
import type { OpDef } from './types.js';

export const concat: OpDef<ConcatNode> = {
  shape(n, xs) {
    const [, h, w] = chw(xs[0]!, n.id);
    for (const s of xs) {
      if (s[1] !== h || s[2] !== w)
        throw new OptionError(`${n.id}: concatenated branches differ in size (${xs.map((x) => x.join('×')).join(', ')})`, {
          option: 'inputs',
        });
    }
    return [xs.reduce((a, s) => a + s[0]!, 0), h, w];
  },
  macs: () => 0,
  lower: (n, ctx) => ctx.b.node('Concat', n.inputs, [n.id], { axis: 1 }),
  // dy split back along channels.
  backward(n, ctx, { dy, needInput }) {
    const sizes = n.inputs.map((v) => ctx.shape(v)[0]!);
    const outs = n.inputs.map((v) => ctx.b.fresh(`${v}.dconcat`));
    ctx.b.node('Split', [dy, ctx.b.constInts('split', sizes)], outs, { axis: 1 });
    return { inputs: outs.map((o, i) => (needInput[i] ? o : undefined)), params: {} };
  },
};

export const flatten: OpDef<FlattenNode> = {
  shape: (_n, [x]) => [prod(x!)],
  macs: () => 0,
  lower: (n, ctx) => ctx.b.node('Flatten', [n.input], [n.id], { axis: 1 }),
  backward: (n, ctx, { dy }) => ({
    inputs: [emit(ctx.b, 'Reshape', [dy, ctx.b.constInts('shape', [0, ...ctx.shape(n.input)])], `${n.id}.dx`)],
    params: {},
  }),
};
