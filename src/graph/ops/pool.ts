/**
 * Pooling: max pooling, average pooling (with PyTorch's ceil-mode and padding rules), and
 * adaptive average pooling (PyTorch's bins, even or uneven).
 */
import type { AdaptiveAvgPoolNode, AvgPoolNode, MaxPoolNode, Pads, PoolNode, Shape } from '../ir.js';
import { maxPoolGradIndices, maxPoolGradMasks } from './maxpool-grad.js';
import { chw, emit, fconst } from './shared.js';
import type { LowerCtx, MaxPoolGradMethod, OpDef } from './types.js';

/** PyTorch's pooling output size, including its ceil-mode rule that a window must start inside. */
function poolOutSize(size: number, k: number, s: number, padBefore: number, padAfter: number, ceil: boolean): number {
  const span = size + padBefore + padAfter - k;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= size + padBefore) out--;
  return out;
}

/**
 * PyTorch's divisor of each average-pool output position (`avg_pool2d`): the window clipped to the
 * padded input, and with `countIncludePad` false further clipped to the real input.
 */
function avgPoolDivisors(n: AvgPoolNode, h: number, w: number, ho: number, wo: number): Float64Array {
  const [kh, kw] = n.kernel;
  const [sh, sw] = n.stride;
  const [pt, pl, pb, pr] = n.pads;
  const out = new Float64Array(ho * wo);
  for (let y = 0; y < ho; y++) {
    for (let x = 0; x < wo; x++) {
      let y0 = y * sh - pt;
      let x0 = x * sw - pl;
      let y1 = Math.min(y0 + kh, h + pb);
      let x1 = Math.min(x0 + kw, w + pr);
      const padded = (y1 - y0) * (x1 - x0);
      y0 = Math.max(y0, 0);
      x0 = Math.max(x0, 0);
      y1 = Math.min(y1, h);
      x1 = Math.min(x1, w);
      out[y * wo + x] = n.countIncludePad ? padded : (y1 - y0) * (x1 - x0);
    }
  }
  return out;
}

/**
 * The adjoint of a pooling window sum: spreads each N×C×Ho×Wo value over its kh×kw window of the
 * N×C×H×W input (a depthwise ConvTranspose with a ones kernel); positions in the padding drop out.
 */
function spreadWindows(
  ctx: LowerCtx,
  v: string,
  c: number,
  h: number,
  w: number,
  ho: number,
  wo: number,
  n: { kernel: readonly [number, number]; stride: readonly [number, number]; pads: Pads },
  hint: string,
): string {
  const [kh, kw] = n.kernel;
  const [sh, sw] = n.stride;
  const [pt, pl] = n.pads;
  // The transposed conv's output spans s·(Ho−1) + k rows from −pt; crop or extend its end to H.
  const endH = sh * (ho - 1) + kh - pt - h;
  const endW = sw * (wo - 1) + kw - pl - w;
  const ones = fconst(ctx, 'ones_kernel', [c, 1, kh, kw], new Float32Array(c * kh * kw).fill(1));
  return emit(ctx.b, 'ConvTranspose', [v, ones], hint, {
    group: c,
    kernel_shape: [kh, kw],
    strides: [sh, sw],
    pads: [pt, pl, Math.max(endH, 0), Math.max(endW, 0)],
    output_padding: [Math.max(-endH, 0), Math.max(-endW, 0)],
  });
}

/**
 * ONNX pads [top, left, bottom, right] that give PyTorch's pooling output size with `ceil_mode`
 * 0, so one graph runs on every ONNX Runtime provider (the WebGPU one rejects `ceil_mode` 1):
 * ceil mode's overhang, the last window reaching past the padded input, becomes extra end
 * padding. The overhang plus the real end padding stays below the kernel (ceil mode's last window
 * starts inside), as ONNX Runtime requires.
 */
function poolPads(n: PoolNode, h: number, w: number, ho: number, wo: number): [number, number, number, number] {
  const [kh, kw] = n.kernel;
  const [sh, sw] = n.stride;
  const [pt, pl, pb, pr] = n.pads;
  const eh = Math.max((ho - 1) * sh + kh - (h + pt + pb), 0);
  const ew = Math.max((wo - 1) * sw + kw - (w + pl + pr), 0);
  return [pt, pl, pb + eh, pr + ew];
}

/** A pool node's input and output sizes: [C, H, W, Ho, Wo]. */
function poolSizes(n: PoolNode, ctx: LowerCtx): [number, number, number, number, number] {
  const [c, h, w] = chw(ctx.shape(n.input), n.id);
  const [, ho, wo] = chw(ctx.shape(n.id), n.id);
  return [c, h, w, ho, wo];
}

/** A max or average pool's output shape (PyTorch's rule, ceil mode included). */
function poolShape(n: PoolNode, [x]: Shape[]): Shape {
  const [c, h, w] = chw(x!, n.id);
  return [
    c,
    poolOutSize(h, n.kernel[0], n.stride[0], n.pads[0], n.pads[2], n.ceil),
    poolOutSize(w, n.kernel[1], n.stride[1], n.pads[1], n.pads[3], n.ceil),
  ];
}

export const maxpool: OpDef<MaxPoolNode> = {
  shape: poolShape,
  macs: () => 0,
  // Padding is exact for a max (ONNX Runtime never reads it), so ceil mode is end padding.
  lower(n, ctx) {
    const [, h, w, ho, wo] = poolSizes(n, ctx);
    const attrs = { kernel_shape: [...n.kernel], strides: [...n.stride], pads: poolPads(n, h, w, ho, wo), ceil_mode: 0 };
    if (!ctx.forGrad || maxPoolGradMethod(n, ctx) === 'masks') {
      ctx.b.node('MaxPool', [n.input], [n.id], attrs);
      return;
    }
    // Indices: each maximum's flat position in the whole (unpadded) N×C×H×W input.
    const indices = ctx.b.fresh(`${n.id}.indices`);
    ctx.b.node('MaxPool', [n.input], [n.id, indices], attrs);
    return { indices };
  },
  // dx = Σ of dy at each window's first maximum (PyTorch's tie rule), in one of the two
  // formulations of maxpool-grad.ts that `LoweringOptions.maxPoolGrad` chooses between.
  backward(n, ctx, { dy, saved }) {
    const [, h, w, ho, wo] = poolSizes(n, ctx);
    const dx =
      maxPoolGradMethod(n, ctx) === 'masks'
        ? maxPoolGradMasks(n, ctx, dy, poolPads(n, h, w, ho, wo))
        : maxPoolGradIndices(n, ctx, dy, saved);
    return { inputs: [dx], params: {} };
  },
};

/** This pool's formulation: 'mixed' takes 'masks' for stride 1 and 'indices' otherwise. */
function maxPoolGradMethod(n: MaxPoolNode, ctx: LowerCtx): Exclude<MaxPoolGradMethod, 'mixed'> {
  const m = ctx.options?.maxPoolGrad ?? 'indices';
  if (m !== 'mixed') return m;
  return n.stride[0] === 1 && n.stride[1] === 1 ? 'masks' : 'indices';
}

/**
 * The window sums of an average pool, N×C×Ho×Wo: the sum over window taps, row-major, of strided
 * slices of the zero-padded input (ceil mode's overhang included, see poolPads). PyTorch adds each
 * window row by row too, so sums divided by its divisors are its averages bit for bit (ONNX
 * Runtime's AveragePool adds column by column for strides ≤ 2: last-bit differences).
 */
function avgPoolSums(n: AvgPoolNode, ctx: LowerCtx, h: number, w: number, ho: number, wo: number): string {
  const { b } = ctx;
  const [kh, kw] = n.kernel;
  const [pt, pl, pb, pr] = poolPads(n, h, w, ho, wo);
  const xp = [pt, pl, pb, pr].some((p) => p > 0)
    ? emit(b, 'Pad', [n.input, b.constInts('pads', [0, 0, pt, pl, 0, 0, pb, pr])], `${n.id}.xpad`)
    : n.input;
  let sum = '';
  for (let t = 0; t < kh * kw; t++) {
    const [ky, kx] = [Math.floor(t / kw), t % kw];
    const tap = stridedTap(ctx, xp, ky, kx, n.stride, ho, wo, `${n.id}.tap`);
    sum = t === 0 ? tap : emit(b, 'Add', [sum, tap], `${n.id}.sum`);
  }
  return sum;
}

/** Rows ky, ky + sh, … (Ho of them) and columns kx, kx + sw, … (Wo) of an N×C×H×W value. */
function stridedTap(
  ctx: LowerCtx,
  x: string,
  ky: number,
  kx: number,
  [sh, sw]: readonly [number, number],
  ho: number,
  wo: number,
  hint: string,
): string {
  const { b } = ctx;
  const starts = b.constInts('starts', [ky, kx]);
  const ends = b.constInts('ends', [ky + (ho - 1) * sh + 1, kx + (wo - 1) * sw + 1]);
  return emit(b, 'Slice', [x, starts, ends, b.constInts('axes', [2, 3]), b.constInts('steps', [sh, sw])], hint);
}

export const avgpool: OpDef<AvgPoolNode> = {
  shape: poolShape,
  macs: () => 0,
  // Ceil mode: the window sums divided by PyTorch's divisors (avgPoolSums), since ONNX's
  // AveragePool would count ceil mode's overhang, as padding, in a count_include_pad divisor.
  lower(n, ctx) {
    const [, h, w, ho, wo] = poolSizes(n, ctx);
    if (n.ceil) {
      const divisors = fconst(ctx, `${n.id}.divisor`, [1, 1, ho, wo], avgPoolDivisors(n, h, w, ho, wo));
      ctx.b.node('Div', [avgPoolSums(n, ctx, h, w, ho, wo), divisors], [n.id]);
      return;
    }
    ctx.b.node('AveragePool', [n.input], [n.id], {
      kernel_shape: [...n.kernel],
      strides: [...n.stride],
      pads: [...n.pads],
      ceil_mode: 0,
      count_include_pad: n.countIncludePad ? 1 : 0,
    });
  },
  // dx: each dy divided by its window's divisor (PyTorch's rule, incl. ceil mode and
  // count_include_pad), spread back over the window.
  backward(n, ctx, { dy }) {
    const [c, h, w] = chw(ctx.shape(n.input), n.id);
    const [, ho, wo] = chw(ctx.shape(n.id), n.id);
    const inv = Array.from(avgPoolDivisors(n, h, w, ho, wo), (d) => 1 / d);
    const scaled = emit(ctx.b, 'Mul', [dy, fconst(ctx, `${n.id}.inv_divisor`, [1, 1, ho, wo], inv)], `${n.id}.dys`);
    return { inputs: [spreadWindows(ctx, scaled, c, h, w, ho, wo, n, `${n.id}.dx`)], params: {} };
  },
};

export const adaptiveavgpool: OpDef<AdaptiveAvgPoolNode> = {
  shape(n, [x]) {
    const [c] = chw(x!, n.id);
    return [c, n.output[0], n.output[1]];
  },
  macs: () => 0,
  lower(n, ctx) {
    const [c, h, w] = chw(ctx.shape(n.input), n.id);
    const [oh, ow] = n.output;
    const { b } = ctx;
    const f64 = ctx.dtype === 'float64'; // GlobalAveragePool and AveragePool are float32-only in ONNX Runtime
    if (oh === 1 && ow === 1 && f64) {
      b.node('ReduceMean', [n.input, b.constInts('axes_hw', [2, 3])], [n.id], { keepdims: 1 });
    } else if (oh === 1 && ow === 1) {
      b.node('GlobalAveragePool', [n.input], [n.id]);
    } else if (h % oh === 0 && w % ow === 0 && !f64) {
      b.node('AveragePool', [n.input], [n.id], { kernel_shape: [h / oh, w / ow], strides: [h / oh, w / ow] });
    } else {
      // Uneven bins (e.g. 14 → 4: [0,4) [3,7) [7,11) [10,14)) are a fixed linear map: N·C×HW · HW×(oh·ow).
      const flat = b.fresh(`${n.id}.flat`);
      b.node('Reshape', [n.input, b.constInts('shape', [0, c, h * w])], [flat]);
      const mixed = b.fresh(`${n.id}.mixed`);
      b.node('MatMul', [flat, fconst(ctx, 'adaptive_pool', [h * w, oh * ow], adaptivePoolMatrix(h, w, oh, ow))], [mixed]);
      b.node('Reshape', [mixed, b.constInts('shape', [0, c, oh, ow])], [n.id]);
    }
  },
  // Even bins: each dy/(kh·kw) broadcast over its bin; uneven bins: the pooling matrix transposed.
  backward(n, ctx, { dy }) {
    const { b } = ctx;
    const [c, h, w] = chw(ctx.shape(n.input), n.id);
    const [oh, ow] = n.output;
    if (h % oh === 0 && w % ow === 0) {
      const [kh, kw] = [h / oh, w / ow];
      const dys = emit(b, 'Mul', [dy, fconst(ctx, 'inv_bin', [], [1 / (kh * kw)])], `${n.id}.dys`);
      // N×C×oh×ow → N×C×oh×1×ow×1 → N×C×oh×kh×ow×kw → N×C×H×W
      const r = emit(b, 'Reshape', [dys, b.constInts('shape', [0, c, oh, 1, ow, 1])], `${n.id}.r`);
      const e = emit(b, 'Expand', [r, b.constInts('bins', [1, 1, 1, kh, 1, kw])], `${n.id}.e`);
      return { inputs: [emit(b, 'Reshape', [e, b.constInts('shape', [0, c, h, w])], `${n.id}.dx`)], params: {} };
    }
    const m = adaptivePoolMatrix(h, w, oh, ow);
    const mt = new Float32Array(m.length);
    for (let i = 0; i < h * w; i++) for (let j = 0; j < oh * ow; j++) mt[j * h * w + i] = m[i * oh * ow + j]!;
    const dyf = emit(b, 'Reshape', [dy, b.constInts('shape', [0, c, oh * ow])], `${n.id}.dyf`);
    const dxf = emit(b, 'MatMul', [dyf, fconst(ctx, 'adaptive_pool_T', [oh * ow, h * w], mt)], `${n.id}.dxf`);
    return { inputs: [emit(b, 'Reshape', [dxf, b.constInts('shape', [0, c, h, w])], `${n.id}.dx`)], params: {} };
  },
};

/** PyTorch's adaptive average pooling as an HW×(oh·ow) matrix: bin i spans [⌊i·H/oh⌋, ⌈(i+1)·H/oh⌉). */
function adaptivePoolMatrix(h: number, w: number, oh: number, ow: number): Float32Array {
  const m = new Float32Array(h * w * oh * ow);
  for (let i = 0; i < oh; i++) {
    const y0 = Math.floor((i * h) / oh);
    const y1 = Math.ceil(((i + 1) * h) / oh);
    for (let j = 0; j < ow; j++) {
      const x0 = Math.floor((j * w) / ow);
      const x1 = Math.ceil(((j + 1) * w) / ow);
      const inv = 1 / ((y1 - y0) * (x1 - x0));
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[(y * w + x) * oh * ow + i * ow + j] = inv;
    }
  }
  return m;
}
