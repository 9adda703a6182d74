/**
 * The max-pool gradient as ONNX nodes: every window's dy goes to its first maximum in PyTorch's
 * scan order (row-major), summed where windows share a maximum. Two formulations, which
 * `LoweringOptions.maxPoolGrad` chooses between (see docs/PERFORMANCE.md for their costs):
 *
 * - 'indices': the forward's MaxPool also outputs each maximum's position (`Indices`), and the
 *   backward scatters dy there (ScatterElements with add);
 * - 'masks': the forward is a plain MaxPool, and the backward finds each window's first maximum
 *   again, one axis at a time, with first-maximum masks (Pad, Slice, Equal, Cast, Mul, Sub, Add,
 *   MaxPool without Indices): no Indices output and no scatter, which ONNX Runtime's WebGPU
 *   providers lack, and no int64 positions kept from the forward.
 */
import { InternalError } from '../../errors.js';
import type { MaxPoolNode } from '../ir.js';
import { chw, emit, fconst, floatCode } from './shared.js';
import type { LowerCtx, Saved } from './types.js';

/**
 * The 'indices' gradient: ScatterElements with add over the flat input (windows overlap, so
 * MaxUnpool, which assigns, would drop gradient).
 */
export function maxPoolGradIndices(n: MaxPoolNode, ctx: LowerCtx, dy: string, saved: Saved): string {
  const { b } = ctx;
  if (!saved.indices) throw new InternalError(`${n.id}: max-pool gradient needs the indices of a forGrad lowering`);
  const [c, h, w] = chw(ctx.shape(n.input), n.id);
  // [N·C·H·W], with N read off the indices (alive until here anyway): a Shape or Size of the pool's
  // input would keep that input alive from the forward until this backward.
  const batch = emit(
    b,
    'Slice',
    [emit(b, 'Shape', [saved.indices], `${n.id}.ishape`), b.constInts('s0', [0]), b.constInts('s1', [1])],
    `${n.id}.n`,
  );
  const size = emit(b, 'Mul', [batch, b.constInts('chw', [c * h * w])], `${n.id}.size`);
  const zeros = emit(b, 'ConstantOfShape', [size], `${n.id}.zeros`, {
    value: {
      tensor:
        ctx.dtype === 'float64'
          ? { dims: [1], dtype: 'float64', data: new Float64Array(1) }
          : { dims: [1], dtype: 'float32', data: new Float32Array(1) },
    },
  });
  const flat = b.constInts('shape', [-1]);
  const idx = emit(b, 'Reshape', [saved.indices, flat], `${n.id}.idxf`);
  const dyf = emit(b, 'Reshape', [dy, flat], `${n.id}.dyf`);
  const dxf = emit(b, 'ScatterElements', [zeros, idx, dyf], `${n.id}.dxf`, { axis: 0, reduction: 'add' });
  return emit(b, 'Reshape', [dxf, b.constInts('shape', [-1, c, h, w])], `${n.id}.dx`);
}

/** One axis of a max pool: tensor axis, kernel, stride, padding before and after, input and output lengths. */
interface PoolAxis {
  axis: 2 | 3;
  k: number;
  s: number;
  before: number;
  after: number;
  len: number;
  out: number;
}

/**
 * The 'masks' gradient. A window's first maximum in row-major order is found one axis at a time:
 * along each row, the first column holding that row's maximum; then the first row whose maximum
 * is the window's. So the 2-D pool is a row pool r = MaxPool(x, 1×kw) followed by a column pool
 * y = MaxPool(r, kh×1), and its gradient is their two 1-D gradients chained, each with k taps:
 *
 *   N×C×Ho×Wo dy → (column stage, taps of r) → N×C×H×Wo dr → (row stage, taps of x) → N×C×H×W dx
 *
 * Values a window shares with another are summed in another order than PyTorch's (per column
 * of windows, then along the row), so float sums may differ in their last bits; the routing is
 * the same. Padding holds the most negative finite value, which never wins a window over a real
 * value (a ReLU's 0 included) unless the whole window holds that value or −∞. (−∞ and NaN padding
 * would be exact, but WGSL lets a GPU assume neither occurs.)
 */
export function maxPoolGradMasks(n: MaxPoolNode, ctx: LowerCtx, dy: string, pads: readonly number[]): string {
  const [c, h, w] = chw(ctx.shape(n.input), n.id);
  const [, ho, wo] = chw(ctx.shape(n.id), n.id);
  const [kh, kw] = n.kernel;
  const [sh, sw] = n.stride;
  const [pt, pl, pb, pr] = pads as [number, number, number, number];
  const rowAxis: PoolAxis = { axis: 3, k: kw, s: sw, before: pl, after: pr, len: w, out: wo };
  const colAxis: PoolAxis = { axis: 2, k: kh, s: sh, before: pt, after: pb, len: h, out: ho };
  // r: N×C×H×Wo, the row maxima (ONNX Runtime's vectorised MaxPool).
  const r = emit(ctx.b, 'MaxPool', [n.input], `${n.id}.rowmax`, {
    kernel_shape: [1, kw],
    strides: [1, sw],
    pads: [0, pl, 0, pr],
  });
  const dr = firstMaxStage(ctx, r, n.id, colAxis, [c, wo], `${n.id}.col`)(dy);
  return firstMaxStage(ctx, n.input, r, rowAxis, [c, h], `${n.id}.row`)(dr);
}

/**
 * One axis of {@link maxPoolGradMasks}: returns the map from the gradient of `max` (the pool of `x`
 * along `a`) to the gradient of `x`. Tap t of output o is x[o·s + t − before]; the first tap equal
 * to the maximum takes the gradient: g_t = rest·[x_t = max], rest ← rest − g_t, the last tap
 * taking what remains. Each g_t then goes back to positions o·s + t − before.
 */
function firstMaxStage(ctx: LowerCtx, x: string, max: string, a: PoolAxis, other: [number, number], hint: string): (g: string) => string {
  const masks = axisTaps(ctx, x, a, a.k - 1, hint).map((xt) =>
    emit(ctx.b, 'Cast', [emit(ctx.b, 'Equal', [xt, max], `${hint}.hit`)], `${hint}.mask`, { to: floatCode(ctx) }),
  );
  return (g) => {
    const parts: string[] = [];
    let rest = g;
    for (const m of masks) {
      const gt = emit(ctx.b, 'Mul', [rest, m], `${hint}.gtap`);
      parts.push(gt);
      rest = emit(ctx.b, 'Sub', [rest, gt], `${hint}.rest`);
    }
    parts.push(rest);
    return scatterTaps(ctx, parts, a, other, hint);
  };
}

/** Pads along one axis of an N×C×H×W value: ONNX's [begin…, end…] with only `axis` nonzero (negative crops). */
function axisPads(axis: 2 | 3, begin: number, end: number): number[] {
  const p = [0, 0, 0, 0, 0, 0, 0, 0];
  p[axis] = begin;
  p[axis + 4] = end;
  return p;
}

/** Pads (or crops, where negative) one axis; `fill` defaults to 0. No node when nothing changes. */
function padAxis(ctx: LowerCtx, v: string, axis: 2 | 3, begin: number, end: number, hint: string, fill?: string): string {
  if (begin === 0 && end === 0) return v;
  const ins = [v, ctx.b.constInts('pads', axisPads(axis, begin, end))];
  if (fill) ins.push(fill);
  return emit(ctx.b, 'Pad', ins, hint);
}

/**
 * The first `count` taps of a 1-D pool along `a`: tap t is x[o·s + t − before] for o < out, padded
 * with the most negative finite value. Stride 1: one Pad (crop where negative) per tap, none for
 * the tap that is x itself; stride s: one Pad, then one strided Slice per tap.
 */
function axisTaps(ctx: LowerCtx, x: string, a: PoolAxis, count: number, hint: string): string[] {
  const lowest = fconst(ctx, 'lowest', [], [ctx.dtype === 'float64' ? -Number.MAX_VALUE : -3.4028234663852886e38]);
  const span = (a.out - 1) * a.s + a.k; // padded positions the windows read
  const taps: string[] = [];
  if (a.s === 1) {
    for (let t = 0; t < count; t++) taps.push(padAxis(ctx, x, a.axis, a.before - t, a.out - a.len - a.before + t, `${hint}.tap`, lowest));
    return taps;
  }
  const xp = padAxis(ctx, x, a.axis, a.before, span - a.len - a.before, `${hint}.xpad`, lowest);
  for (let t = 0; t < count; t++) {
    taps.push(
      emit(
        ctx.b,
        'Slice',
        [
          xp,
          ctx.b.constInts('starts', [t]),
          ctx.b.constInts('ends', [t + (a.out - 1) * a.s + 1]),
          ctx.b.constInts('axes', [a.axis]),
          ctx.b.constInts('steps', [a.s]),
        ],
        `${hint}.tap`,
      ),
    );
  }
  return taps;
}

/**
 * The adjoint of {@link axisTaps}: Σ_t of g_t placed at positions o·s + t − before, cropped to the
 * input's length. Stride 1: one Pad per tap and Adds. Stride s: taps with the same t mod s (a
 * phase) land on the same positions shifted by ⌊t/s⌋ outputs, so each phase is a sum of padded
 * g_t on an output-sized grid; the s phase grids interleave (Concat + Reshape) into the padded
 * axis, which is cropped (or extended with zeros, where floor mode left positions unread).
 * `other` is the sizes of the two axes that are neither the batch nor `a.axis` (C and the other
 * spatial axis), for the Reshape.
 */
function scatterTaps(ctx: LowerCtx, parts: string[], a: PoolAxis, other: [number, number], hint: string): string {
  const { b } = ctx;
  const add = (acc: string | undefined, v: string): string => (acc === undefined ? v : emit(b, 'Add', [acc, v], `${hint}.dsum`));
  if (a.s === 1) {
    let acc: string | undefined;
    parts.forEach((g, t) => (acc = add(acc, padAxis(ctx, g, a.axis, t - a.before, a.len - a.out - t + a.before, `${hint}.dtap`))));
    return acc!;
  }
  const q = a.out + Math.floor((a.k - 1) / a.s); // outputs per phase grid
  const phases: (string | undefined)[] = new Array<string | undefined>(a.s).fill(undefined);
  parts.forEach((g, t) => {
    const d = Math.floor(t / a.s);
    phases[t % a.s] = add(phases[t % a.s], padAxis(ctx, g, a.axis, d, q - a.out - d, `${hint}.dphase`));
  });
  // Phases 0…p−1 exist (p = min(k, s)); when k < s the others are zeros, padded in after the Concat.
  const present = phases.filter((v): v is string => v !== undefined);
  const [c, m] = other;
  // N×C×Q×M per phase (axis 2) → N×C×Q×1×M → N×C×Q×s×M → N×C×Q·s×M; axis 3: N×C×M×Q → …×Q×1 → …×Q×s → …×Q·s
  const split = a.axis === 2 ? [0, c, q, 1, m] : [0, c, m, q, 1];
  const grids = present.map((v) => emit(b, 'Reshape', [v, b.constInts('shape', split)], `${hint}.dgrid`));
  let cat = grids.length === 1 ? grids[0]! : emit(b, 'Concat', grids, `${hint}.dinter`, { axis: a.axis + 1 });
  if (present.length < a.s) {
    const p = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    p[a.axis + 1 + 5] = a.s - present.length;
    cat = emit(b, 'Pad', [cat, b.constInts('pads', p)], `${hint}.dphases`);
  }
  const merged = emit(b, 'Reshape', [cat, b.constInts('shape', a.axis === 2 ? [0, c, q * a.s, m] : [0, c, m, q * a.s])], `${hint}.dpadded`);
  return padAxis(ctx, merged, a.axis, -a.before, a.len + a.before - q * a.s, `${hint}.dx`);
}
