/**
 * The gradients of a float32 convolution, as ONNX nodes: the input gradient (a convolution with
 * the flipped kernel, or a transposed convolution when strided) and the weight gradient (one
 * matrix product per sample between the output gradient and the input cut into kernel-sized
 * patches). `LoweringOptions.convGrad` picks between equivalent ways of forming them.
 */
import type { ConvNode } from '../ir.js';
import { nchwcConv, useNchwc } from './conv-nchwc.js';
import { batchOuter, chw, emit, fconst, floatCode, onnxPads, scalarAfter } from './shared.js';
import type { LowerCtx } from './types.js';

/** Slice's "before the first element" end for a backward (step −1) slice. */
const NEG_INF_INDEX = -(2 ** 53);

const is1x1 = (n: ConvNode): boolean =>
  n.kernel[0] === 1 && n.kernel[1] === 1 && n.stride[0] === 1 && n.stride[1] === 1 && n.pads.every((p) => p === 0);

/** Input gradient of a convolution whose weight is the ONNX value `weight`: N×Cout×Ho×Wo → N×Cin×H×W. */
export function convInputGrad(n: ConvNode, ctx: LowerCtx, dy: string, weight: string): string {
  const { b } = ctx;
  const [, h, w] = chw(ctx.shape(n.input), n.id);
  const [, ho, wo] = chw(ctx.shape(n.id), n.id);
  const [kh, kw] = n.kernel;
  const [sh, sw] = n.stride;
  const [pt, pl, pb, pr] = n.pads;
  if (is1x1(n) && ctx.options?.convGrad?.inputGrad1x1 === 'matmul') {
    // 1×1: dx_n = Wᵀ·dy_n, one MatMul broadcast over the batch: Cin×Cout · N×Cout×HW → N×Cin×HW.
    const [cin] = chw(ctx.shape(n.input), n.id);
    const [cout] = chw(ctx.shape(n.id), n.id);
    const wt = emit(b, 'Transpose', [emit(b, 'Reshape', [weight, b.constInts('shape', [cout, cin])], `${n.id}.w2`)], `${n.id}.w2T`, {
      perm: [1, 0],
    });
    const dyf = emit(b, 'Reshape', [dy, b.constInts('shape', [0, cout, h * w])], `${n.id}.dyf`);
    return emit(b, 'Reshape', [emit(b, 'MatMul', [wt, dyf], `${n.id}.dxf`), b.constInts('shape', [0, cin, h, w])], `${n.id}.dx`);
  }
  if (sh === 1 && sw === 1 && Math.max(pt, pb) < kh && Math.max(pl, pr) < kw) {
    // Stride 1: dx is dy correlated with the kernel flipped in space and transposed (Cin×Cout×kh×kw),
    // padded k−1−p: N×Cout×Ho×Wo → N×Cin×H×W. Faster than ConvTranspose in ONNX Runtime.
    let wt = emit(b, 'Transpose', [weight], `${n.id}.wT`, { perm: [1, 0, 2, 3] });
    if (kh > 1 || kw > 1) {
      wt = emit(
        b,
        'Slice',
        [
          wt,
          b.constInts('flip_starts', [-1, -1]),
          b.constInts('flip_ends', [NEG_INF_INDEX, NEG_INF_INDEX]),
          b.constInts('flip_axes', [2, 3]),
          b.constInts('flip_steps', [-1, -1]),
        ],
        `${n.id}.wTflip`,
      );
    }
    const pads = [kh - 1 - pt, kw - 1 - pl, kh - 1 - pb, kw - 1 - pr];
    const [cin] = chw(ctx.shape(n.input), n.id);
    if (useNchwc(ctx, n.outChannels, n.kernel, n.stride))
      return nchwcConv(ctx, dy, wt, undefined, [cin, n.outChannels, kh, kw], pads, `${n.id}.dx`);
    return emit(b, 'Conv', [dy, wt], `${n.id}.dx`, { kernel_shape: [kh, kw], pads });
  }
  // Strided: the transposed convolution with the forward kernel (ConvTranspose's Cin×Cout layout is
  // conv's Cout×Cin); output_padding restores the rows and columns the forward's floor dropped.
  return emit(b, 'ConvTranspose', [dy, weight], `${n.id}.dx`, {
    kernel_shape: [kh, kw],
    strides: [sh, sw],
    pads: onnxPads(n.pads),
    output_padding: [h + pt + pb - kh - sh * (ho - 1), w + pl + pr - kw - sw * (wo - 1)],
  });
}

/**
 * Weight gradient of a convolution: dW[o, i, ky, kx] = Σ_n Σ_(y,x) dy[n, o, y, x] · x_pad[n, i, s·y + ky, s·x + kx],
 * a per-sample GEMM dy_n (Cout×HoWo) · cols_nᵀ (HoWo×Cin·k²) summed over the batch.
 */
export function convWeightGrad(n: ConvNode, ctx: LowerCtx, dy: string): string {
  const { b } = ctx;
  const [cin, h, w] = chw(ctx.shape(n.input), n.id);
  const [cout, ho, wo] = chw(ctx.shape(n.id), n.id);
  const [kh, kw] = n.kernel;
  const dyf = emit(b, 'Reshape', [dy, b.constInts('shape', [0, cout, ho * wo])], `${n.id}.dyf`);
  const wshape = b.constInts('shape', [cout, cin, kh, kw]);
  let cols: string;
  if (is1x1(n)) {
    // 1×1: the input itself is the column matrix, N×Cin×HW.
    cols = emit(b, 'Reshape', [n.input, b.constInts('shape', [0, cin, h * w])], `${n.id}.xf`);
  } else if (ctx.options?.convGrad?.weightGrad === 'shift') {
    return shiftedWeightGrad(n, ctx, dyf, wshape);
  } else {
    cols = unfold(n, ctx, dy);
  }
  return emit(b, 'Reshape', [batchOuter(ctx, dyf, cols, `${n.weight}.grad2d`), wshape], `${n.weight}.grad`);
}

/**
 * 'unfold': im2col in one grouped convolution with one-hot kernels: input channel i produces
 * channels i·k² + (ky·kw + kx) holding x_pad[i, s·y + ky, s·x + kx]. Returns N×Cin·k²×HoWo (OIHW order).
 * The kernel is scaled by a 1 computed after dy (scalarAfter): the im2col of the network's input
 * (9–49 times the image) would otherwise be made at the start of the step and kept until here.
 */
function unfold(n: ConvNode, ctx: LowerCtx, dy: string): string {
  const { b } = ctx;
  const [cin] = chw(ctx.shape(n.input), n.id);
  const [, ho, wo] = chw(ctx.shape(n.id), n.id);
  const [kh, kw] = n.kernel;
  const taps = kh * kw;
  const onehot = new Float32Array(cin * taps * taps);
  for (let i = 0; i < cin; i++) for (let t = 0; t < taps; t++) onehot[(i * taps + t) * taps + t] = 1;
  const kernel = emit(
    b,
    'Mul',
    [fconst(ctx, `${n.id}.unfold_kernel`, [cin * taps, 1, kh, kw], onehot), scalarAfter(b, dy, 1, floatCode(ctx), `${n.id}.after_dy`)],
    `${n.id}.unfold_kernel_late`,
  );
  const cols = emit(b, 'Conv', [n.input, kernel], `${n.id}.cols`, {
    group: cin,
    kernel_shape: [kh, kw],
    strides: [...n.stride],
    pads: onnxPads(n.pads),
  });
  return emit(b, 'Reshape', [cols, b.constInts('shape', [0, cin * taps, ho * wo])], `${n.id}.colsf`);
}

/** 'shift': k² shifted (strided) windows of the padded input, one batched GEMM each: Cout×Cin per tap. */
function shiftedWeightGrad(n: ConvNode, ctx: LowerCtx, dyf: string, wshape: string): string {
  const { b } = ctx;
  const [cin] = chw(ctx.shape(n.input), n.id);
  const [, ho, wo] = chw(ctx.shape(n.id), n.id);
  const [kh, kw] = n.kernel;
  const [sh, sw] = n.stride;
  const [pt, pl, pb, pr] = n.pads;
  const xp = n.pads.some((p) => p > 0)
    ? emit(b, 'Pad', [n.input, b.constInts('pads', [0, 0, pt, pl, 0, 0, pb, pr])], `${n.id}.xpad`)
    : n.input;
  const taps: string[] = [];
  for (let ky = 0; ky < kh; ky++) {
    for (let kx = 0; kx < kw; kx++) {
      const win = emit(
        b,
        'Slice',
        [
          xp,
          b.constInts('starts', [ky, kx]),
          b.constInts('ends', [ky + sh * (ho - 1) + 1, kx + sw * (wo - 1) + 1]),
          b.constInts('axes', [2, 3]),
          b.constInts('steps', [sh, sw]),
        ],
        `${n.id}.win`,
      );
      const wf = emit(b, 'Reshape', [win, b.constInts('shape', [0, cin, ho * wo])], `${n.id}.winf`);
      const g = batchOuter(ctx, dyf, wf, `${n.weight}.tap`);
      taps.push(emit(b, 'Unsqueeze', [g, b.constInts('axes', [2])], `${n.weight}.tapu`));
    }
  }
  const stacked = emit(b, 'Concat', taps, `${n.weight}.taps`, { axis: 2 }); // Cout×Cin×k²
  return emit(b, 'Reshape', [stacked, wshape], `${n.weight}.grad`);
}
