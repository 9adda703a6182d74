/**
 * Element-wise operations: ReLU, and dropout (in training graphs, with masks drawn from a seed so
 * that a step is a pure function of its inputs).
 */
import { InternalError } from '../../errors.js';
import type { DropoutNode, ReluNode } from '../ir.js';
import { emit, fconst, floatCode, scalarAfter } from './shared.js';
import type { LowerCtx, OpDef } from './types.js';

export const relu: OpDef<ReluNode> = {
  shape: (_n, [x]) => x!,
  macs: () => 0,
  lower: (n, ctx) => ctx.b.node('Relu', [n.input], [n.id]),
  // dx = dy·[y > 0], as a float mask times dy (ONNX Runtime's Where is ~2× slower). The mask's
  // threshold comes after dy (scalarAfter): a ReLU whose output only feeds a Concat would
  // otherwise have its float mask made right after the forward ReLU and kept until here.
  backward(n, ctx, { dy }) {
    const { b } = ctx;
    const zero = scalarAfter(b, dy, 0, floatCode(ctx), `${n.id}.zero`);
    const pos = emit(b, 'Cast', [emit(b, 'Greater', [n.id, zero], `${n.id}.pos`)], `${n.id}.mask`, { to: floatCode(ctx) });
    return { inputs: [emit(b, 'Mul', [dy, pos], `${n.id}.dx`)], params: {} };
  },
};

export const dropout: OpDef<DropoutNode> = {
  shape: (_n, [x]) => x!,
  macs: () => 0,
  lower(n, ctx) {
    const { b } = ctx;
    if (ctx.mode === 'eval' || n.p === 0) {
      b.node('Identity', [n.input], [n.id]);
      return undefined;
    }
    if (ctx.forGrad) {
      let mask: string;
      if (ctx.seed) {
        mask = seededDropoutMask(ctx, n.input, n.p, ctx.seed, n.id);
      } else {
        const keep = b.fresh(`${n.id}.keep`);
        b.node(
          'Dropout',
          [n.input, fconst(ctx, 'ratio', [], [n.p]), b.constant('training', { dims: [], dtype: 'bool', data: new Uint8Array([1]) })],
          [b.fresh(`${n.id}.y`), keep],
        );
        mask = emit(
          b,
          'Mul',
          [emit(b, 'Cast', [keep], `${n.id}.keepf`, { to: floatCode(ctx) }), fconst(ctx, 'inv_keep', [], [1 / (1 - n.p)])],
          `${n.id}.mask`,
        );
      }
      b.node('Mul', [n.input, mask], [n.id]);
      return { mask };
    }
    const ratio = fconst(ctx, 'ratio', [], [n.p]);
    const training = b.constant('training', { dims: [], dtype: 'bool', data: new Uint8Array([1]) });
    b.node('Dropout', [n.input, ratio, training], [n.id]);
    return undefined;
  },
  // dx = dy · mask/(1 − p), the forward's mask (eval mode: dx = dy).
  backward(n, ctx, { dy, saved }) {
    if (n.p === 0 || ctx.mode === 'eval') return { inputs: [emit(ctx.b, 'Identity', [dy], `${n.id}.dx`)], params: {} };
    if (!saved.mask) throw new InternalError(`${n.id}: dropout gradient needs the mask of a forGrad lowering`);
    return { inputs: [emit(ctx.b, 'Mul', [dy, saved.mask], `${n.id}.dx`)], params: {} };
  },
};

/** The mixing hash of the dropout masks: a 31-bit multiplicative hash with xor-shifts, in int64 ONNX ops. */
const HASH = { modulus: 2147483647, index: 1103515245, seed: 1664525, rounds: [48271, 69621, 16807] } as const;

/** A 31-bit salt from a node id, so that each dropout layer draws its own mask. */
function salt(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619) >>> 0;
  return h % HASH.modulus;
}

/**
 * Dropout's scaled keep-mask from a seed: u = hash(seed, layer, element index) / (2³¹ − 1),
 * mask = [u ≥ p] / (1 − p), shaped like `x`. Deterministic given the seed value.
 */
function seededDropoutMask(ctx: LowerCtx, x: string, p: number, seed: string, id: string): string {
  const { b } = ctx;
  const int = (hint: string, v: number): string => b.constant(hint, { dims: [], dtype: 'int64', data: BigInt64Array.of(BigInt(v)) });
  const size = emit(b, 'Size', [x], `${id}.size`);
  const idx = emit(b, 'Range', [int('zero', 0), size, int('one', 1)], `${id}.idx`);
  const base = emit(b, 'Add', [emit(b, 'Mul', [seed, int('k_seed', HASH.seed)], `${id}.seedk`), int('salt', salt(id))], `${id}.base`);
  let v = emit(b, 'Add', [emit(b, 'Mul', [idx, int('k_index', HASH.index)], `${id}.idxk`), base], `${id}.h0`);
  const m = int('modulus', HASH.modulus);
  v = emit(b, 'Mod', [v, m], `${id}.h0m`);
  for (const k of HASH.rounds) {
    v = emit(b, 'BitwiseXor', [v, emit(b, 'Div', [v, int('shift15', 1 << 15)], `${id}.hs`)], `${id}.hx`);
    v = emit(b, 'Mod', [emit(b, 'Mul', [v, int('round', k)], `${id}.hm`), m], `${id}.h`);
  }
  const u = emit(
    b,
    'Div',
    [emit(b, 'Cast', [v], `${id}.hf`, { to: floatCode(ctx) }), fconst(ctx, 'modulus', [], [HASH.modulus])],
    `${id}.u`,
  );
  const keep = emit(b, 'Cast', [emit(b, 'GreaterOrEqual', [u, fconst(ctx, 'p', [], [p])], `${id}.keepb`)], `${id}.keep`, {
    to: floatCode(ctx),
  });
  const scaled = emit(b, 'Mul', [keep, fconst(ctx, 'inv_keep', [], [1 / (1 - p)])], `${id}.maskf`);
  return emit(b, 'Reshape', [scaled, emit(b, 'Shape', [x], `${id}.shape`)], `${id}.mask`);
}
