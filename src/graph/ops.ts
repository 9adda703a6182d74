/**
 * Each operation in one place: its shape rule, its cost (multiply-adds), its ONNX lowering and
 * its gradient (tinygrad's and PyTorch's derivatives tables). `src/graph/autodiff.ts` walks a
 * graph backwards and calls each node's `backward`, which emits ONNX nodes computing the
 * gradients of the node's inputs and parameters from the gradient of its output.
 */
import type { Graph, OpKind, OpNode, Pads, Shape } from './ir.js';
import type { OnnxGraphBuilder } from './onnx.js';

/** Element type of floating-point values in a lowered graph. */
export type FloatType = 'float32' | 'float64';

/** What a lowering sees: the graph's shapes, the ONNX builder, and where parameters live. */
export interface LowerCtx {
  readonly mode: 'eval' | 'train';
  readonly b: OnnxGraphBuilder;
  shape(value: string): Shape;
  /** ONNX value name of a parameter (a constant initializer or a graph input). */
  param(name: string): string;
  /** Train mode: extra outputs a node produces beside its value (batch-norm statistics). */
  sideOutput(key: string, value: string, dims: number[]): void;
  /**
   * Element type of activations and parameters. Default 'float32'; 'float64' serves the
   * finite-difference tests (ONNX Runtime's CPU kernels for Conv, ConvTranspose, AveragePool,
   * GlobalAveragePool and LRN are float32-only).
   */
  readonly dtype?: FloatType;
  /** Train mode: lower for differentiation, keeping what `backward` needs (pool indices, dropout masks). Default false. */
  readonly forGrad?: boolean;
  /**
   * With `forGrad`: an int64 scalar value (in [0, 2³¹)) that seeds the dropout masks, so a step
   * is a pure function of its inputs. Without it, ONNX Runtime's Dropout draws the masks.
   */
  readonly seed?: string;
}

/** Values a train-mode lowering keeps for its gradient, by key (`indices`, `xhat`, …). */
export type Saved = Record<string, string>;

export interface GradArgs {
  /** Gradient of the loss with respect to the node's value (same shape, batch first). */
  dy: string;
  /** What the node's lowering returned. */
  saved: Saved;
  /** Per input value (in `nodeInputs` order): whether its gradient is wanted. */
  needInput: readonly boolean[];
  /** Whether a parameter's gradient is wanted (false for frozen parameters and statistics). */
  needParam(name: string): boolean;
}

export interface Grads {
  /** Gradient per input value (`nodeInputs` order); undefined where not wanted. */
  inputs: (string | undefined)[];
  /** Gradient per parameter name (PyTorch layout). */
  params: Record<string, string>;
}

export interface OpDef<N extends OpNode> {
  shape(node: N, inputs: Shape[]): Shape;
  /** Multiply-adds per sample (weights × output positions for conv/linear, as torchinfo counts). */
  macs(node: N, inputs: Shape[], out: Shape): number;
  /** Emits the node's ONNX nodes producing `node.id`; with `ctx.forGrad`, returns what `backward` needs. */
  lower(node: N, ctx: LowerCtx): Saved | void;
  /** Emits the gradient of the node's inputs and parameters (train-mode semantics). */
  backward(node: N, ctx: LowerCtx, args: GradArgs): Grads;
}

type OpTable = { [K in OpKind]: OpDef<Extract<OpNode, { op: K }>> };

/** PyTorch's pooling output size, including its ceil-mode rule that a window must start inside. */
export function poolOutSize(size: number, k: number, s: number, padBefore: number, padAfter: number, ceil: boolean): number {
  const span = size + padBefore + padAfter - k;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= size + padBefore) out--;
  return out;
}

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

function chw(s: Shape, what: string): [number, number, number] {
  if (s.length !== 3) throw new Error(`${what}: expected a C×H×W input, got [${s.join('×')}]`);
  return [s[0]!, s[1]!, s[2]!];
}

function onnxPads(p: Pads): number[] {
  // ONNX order: [top, left, bottom, right] = [x1_begin, x2_begin, x1_end, x2_end]
  return [p[0], p[1], p[2], p[3]];
}

/** Emits one single-output ONNX node and returns its (fresh) output name. */
function emit(
  b: OnnxGraphBuilder,
  opType: string,
  inputs: string[],
  hint: string,
  attrs?: Parameters<OnnxGraphBuilder['node']>[3],
): string {
  const out = b.fresh(hint);
  b.node(opType, inputs, [out], attrs);
  return out;
}

/** A float constant in the context's element type. */
function fconst(ctx: LowerCtx, hint: string, dims: readonly number[], values: ArrayLike<number>): string {
  if (ctx.dtype === 'float64') return ctx.b.constant(hint, { dims, dtype: 'float64', data: Float64Array.from(values) });
  return ctx.b.constFloats(hint, dims, values);
}

/** ONNX TensorProto element code of the context's float type (for Cast). */
const floatCode = (ctx: LowerCtx): number => (ctx.dtype === 'float64' ? 11 : 1);

/** The sum over batch and space of an N×C×H×W value: a [C] vector (bias and batch-norm gradients). */
function sumNHW(ctx: LowerCtx, x: string, hint: string, keepdims = 0): string {
  return emit(ctx.b, 'ReduceSum', [x, ctx.b.constInts('axes_nhw', [0, 2, 3])], hint, { keepdims });
}

/** Sum over the batch of per-sample matrices dy_n · x_nᵀ: N×A×K, N×B×K → A×B (weight gradients). */
function batchOuter(ctx: LowerCtx, dy: string, x: string, hint: string): string {
  const { b } = ctx;
  // Transpose + MatMul: ONNX Runtime fuses the pair into one MatMul with a transposed B (no copy).
  const xt = emit(b, 'Transpose', [x], `${hint}.xt`, { perm: [0, 2, 1] });
  const per = emit(b, 'MatMul', [dy, xt], `${hint}.per_sample`);
  return emit(b, 'ReduceSum', [per, b.constInts('axes0', [0])], hint, { keepdims: 0 });
}

const NEG_INF_INDEX = -(2 ** 53);

/** Input gradient of a convolution (see the table's `conv.backward`). */
function convInputGrad(n: Extract<OpNode, { op: 'conv' }>, ctx: LowerCtx, dy: string, weight: string): string {
  const { b } = ctx;
  const [, h, w] = chw(ctx.shape(n.input), n.id);
  const [, ho, wo] = chw(ctx.shape(n.id), n.id);
  const [kh, kw] = n.kernel;
  const [sh, sw] = n.stride;
  const [pt, pl, pb, pr] = n.pads;
  if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && n.pads.every((p) => p === 0) && convGradConfig.inputGrad1x1 === 'matmul') {
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
    return emit(b, 'Conv', [dy, wt], `${n.id}.dx`, { kernel_shape: [kh, kw], pads: [kh - 1 - pt, kw - 1 - pl, kh - 1 - pb, kw - 1 - pr] });
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
 * im2col indices of a convolution over a zero-padded Cin×Hp×Wp input: row i·k² + (ky·kw + kx),
 * column y·Wo + x holds the flat position of x_pad[i, s·y + ky, s·x + kx] (OIHW order).
 */
function unfoldIndices(n: Extract<OpNode, { op: 'conv' }>, cin: number, hp: number, wp: number, ho: number, wo: number): BigInt64Array {
  const [kh, kw] = n.kernel;
  const [sh, sw] = n.stride;
  const idx = new BigInt64Array(cin * kh * kw * ho * wo);
  let k = 0;
  for (let i = 0; i < cin; i++) {
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        for (let y = 0; y < ho; y++) for (let x = 0; x < wo; x++) idx[k++] = BigInt(i * hp * wp + (ky + sh * y) * wp + kx + sw * x);
      }
    }
  }
  return idx;
}

/**
 * The float64 convolution (ONNX Runtime's CPU Conv is float32-only): im2col as one Gather from
 * the padded input, then MatMul. Used by the float64 parity and finite-difference tests.
 * Returns the columns N×Cin·k²×HoWo for the weight gradient.
 */
function convLower64(n: Extract<OpNode, { op: 'conv' }>, ctx: LowerCtx): Saved {
  const { b } = ctx;
  const [cin, h, w] = chw(ctx.shape(n.input), n.id);
  const [cout, ho, wo] = chw(ctx.shape(n.id), n.id);
  const [pt, pl, pb, pr] = n.pads;
  const [hp, wp] = [h + pt + pb, w + pl + pr];
  const xp = n.pads.some((p) => p > 0)
    ? emit(b, 'Pad', [n.input, b.constInts('pads', [0, 0, pt, pl, 0, 0, pb, pr])], `${n.id}.xpad`)
    : n.input;
  const xf = emit(b, 'Reshape', [xp, b.constInts('shape', [0, cin * hp * wp])], `${n.id}.xpf`);
  const taps = n.kernel[0] * n.kernel[1];
  const idx = b.constant(`${n.id}.unfold_idx`, {
    dims: [cin * taps, ho * wo],
    dtype: 'int64',
    data: unfoldIndices(n, cin, hp, wp, ho, wo),
  });
  const cols = emit(b, 'Gather', [xf, idx], `${n.id}.cols`, { axis: 1 });
  const wm = emit(b, 'Reshape', [ctx.param(n.weight), b.constInts('shape', [cout, cin * taps])], `${n.id}.wm`);
  let y = emit(b, 'MatMul', [wm, cols], `${n.id}.mm`);
  if (n.bias) y = emit(b, 'Add', [y, emit(b, 'Reshape', [ctx.param(n.bias), b.constInts('shape', [cout, 1])], `${n.id}.b`)], `${n.id}.mmb`);
  ctx.b.node('Reshape', [y, b.constInts('shape', [0, cout, ho, wo])], [n.id]);
  return { cols };
}

/** Input gradient of the float64 convolution: Wᵀ·dy scattered back (col2im, ScatterElements add), padding cropped. */
function convInputGrad64(n: Extract<OpNode, { op: 'conv' }>, ctx: LowerCtx, dy: string): string {
  const { b } = ctx;
  const [cin, h, w] = chw(ctx.shape(n.input), n.id);
  const [cout, ho, wo] = chw(ctx.shape(n.id), n.id);
  const [pt, pl, pb, pr] = n.pads;
  const [hp, wp] = [h + pt + pb, w + pl + pr];
  const taps = n.kernel[0] * n.kernel[1];
  const wm = emit(b, 'Reshape', [ctx.param(n.weight), b.constInts('shape', [cout, cin * taps])], `${n.id}.wm`);
  const wt = emit(b, 'Transpose', [wm], `${n.id}.wmT`, { perm: [1, 0] });
  const dyf = emit(b, 'Reshape', [dy, b.constInts('shape', [0, cout, ho * wo])], `${n.id}.dyf`);
  const dcols = emit(b, 'Reshape', [emit(b, 'MatMul', [wt, dyf], `${n.id}.dcols`), b.constInts('shape', [0, -1])], `${n.id}.dcolsf`);
  const len = cin * taps * ho * wo;
  const idx = b.constant(`${n.id}.unfold_idx`, { dims: [1, len], dtype: 'int64', data: unfoldIndices(n, cin, hp, wp, ho, wo) });
  const batch = emit(b, 'Slice', [emit(b, 'Shape', [dy], `${n.id}.dyshape`), b.constInts('s0', [0]), b.constInts('s1', [1])], `${n.id}.n`);
  const idxN = emit(
    b,
    'Expand',
    [idx, emit(b, 'Concat', [batch, b.constInts('one', [1])], `${n.id}.idxshape`, { axis: 0 })],
    `${n.id}.idxN`,
  );
  const zeros = emit(
    b,
    'ConstantOfShape',
    [emit(b, 'Concat', [batch, b.constInts('len', [cin * hp * wp])], `${n.id}.zshape`, { axis: 0 })],
    `${n.id}.zeros`,
    {
      value: { tensor: { dims: [1], dtype: 'float64', data: new Float64Array(1) } },
    },
  );
  const dxp = emit(b, 'ScatterElements', [zeros, idxN, dcols], `${n.id}.dxpf`, { axis: 1, reduction: 'add' });
  const dx4 = emit(b, 'Reshape', [dxp, b.constInts('shape', [0, cin, hp, wp])], `${n.id}.dxp`);
  if (!n.pads.some((p) => p > 0)) return dx4;
  return emit(
    b,
    'Slice',
    [dx4, b.constInts('starts', [pt, pl]), b.constInts('ends', [pt + h, pl + w]), b.constInts('axes', [2, 3])],
    `${n.id}.dx`,
  );
}

/** How a convolution's weight gradient is formed; see docs/PERFORMANCE.md for measurements. */
export type ConvWeightGradMethod = 'unfold' | 'shift';
/**
 * Process-wide choices of how convolution gradients are formed (benchmarks and tests switch
 * them): the weight gradient's {@link ConvWeightGradMethod} (default 'unfold'), and the 1×1 input
 * gradient as a Conv with the transposed kernel or as a MatMul (default 'conv'; equal in CPU time).
 */
export const convGradConfig: { weightGrad: ConvWeightGradMethod; inputGrad1x1: 'matmul' | 'conv' } = {
  weightGrad: 'unfold',
  inputGrad1x1: 'conv',
};

/**
 * Weight gradient of a convolution: dW[o, i, ky, kx] = Σ_n Σ_(y,x) dy[n, o, y, x] · x_pad[n, i, s·y + ky, s·x + kx],
 * a per-sample GEMM dy_n (Cout×HoWo) · cols_nᵀ (HoWo×Cin·k²) summed over the batch.
 */
function convWeightGrad(n: Extract<OpNode, { op: 'conv' }>, ctx: LowerCtx, dy: string): string {
  const { b } = ctx;
  const [cin, h, w] = chw(ctx.shape(n.input), n.id);
  const [cout, ho, wo] = chw(ctx.shape(n.id), n.id);
  const [kh, kw] = n.kernel;
  const [sh, sw] = n.stride;
  const dyf = emit(b, 'Reshape', [dy, b.constInts('shape', [0, cout, ho * wo])], `${n.id}.dyf`);
  const wshape = b.constInts('shape', [cout, cin, kh, kw]);
  if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && n.pads.every((p) => p === 0)) {
    // 1×1: the input itself is the column matrix, N×Cin×HW.
    const xf = emit(b, 'Reshape', [n.input, b.constInts('shape', [0, cin, h * w])], `${n.id}.xf`);
    return emit(b, 'Reshape', [batchOuter(ctx, dyf, xf, `${n.weight}.grad2d`), wshape], `${n.weight}.grad`);
  }
  if (convGradConfig.weightGrad === 'shift') {
    // k² shifted (strided) windows of the padded input, one batched GEMM each: Cout×Cin per tap.
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
  // 'unfold': im2col in one grouped convolution with one-hot kernels: input channel i produces
  // channels i·k² + (ky·kw + kx) holding x_pad[i, s·y + ky, s·x + kx] (N×Cin·k²×Ho×Wo, OIHW order).
  const taps = kh * kw;
  const onehot = new Float32Array(cin * taps * taps);
  for (let i = 0; i < cin; i++) for (let t = 0; t < taps; t++) onehot[(i * taps + t) * taps + t] = 1;
  const kernel = fconst(ctx, `${n.id}.unfold_kernel`, [cin * taps, 1, kh, kw], onehot);
  const cols = emit(b, 'Conv', [n.input, kernel], `${n.id}.cols`, {
    group: cin,
    kernel_shape: [kh, kw],
    strides: [sh, sw],
    pads: onnxPads(n.pads),
  });
  const colsf = emit(b, 'Reshape', [cols, b.constInts('shape', [0, cin * taps, ho * wo])], `${n.id}.colsf`);
  return emit(b, 'Reshape', [batchOuter(ctx, dyf, colsf, `${n.weight}.grad2d`), wshape], `${n.weight}.grad`);
}

/** Weight gradient of the float64 convolution from its saved columns. */
function convWeightGrad64(n: Extract<OpNode, { op: 'conv' }>, ctx: LowerCtx, dy: string, saved: Saved): string {
  const { b } = ctx;
  const [cin] = chw(ctx.shape(n.input), n.id);
  const [cout, ho, wo] = chw(ctx.shape(n.id), n.id);
  if (!saved.cols) throw new Error(`${n.id}: float64 conv gradient needs the columns of its lowering`);
  const dyf = emit(b, 'Reshape', [dy, b.constInts('shape', [0, cout, ho * wo])], `${n.id}.dyf`);
  const g = batchOuter(ctx, dyf, saved.cols, `${n.weight}.grad2d`);
  return emit(b, 'Reshape', [g, b.constInts('shape', [cout, cin, n.kernel[0], n.kernel[1]])], `${n.weight}.grad`);
}

/**
 * Sum over a channel window of an N×C×H×W value: out[c] = Σ_{c−lo ≤ j ≤ c+hi} v[j], as an
 * average pool over the channel axis of N×1×C×HW (then times the window size).
 */
function channelWindowSum(ctx: LowerCtx, v: string, c: number, lo: number, hi: number, hint: string): string {
  const { b } = ctx;
  const size = lo + hi + 1;
  const r = emit(b, 'Reshape', [v, b.constInts('shape', [0, 1, c, -1])], `${hint}.r`);
  const avg = emit(b, 'AveragePool', [r], `${hint}.avg`, { kernel_shape: [size, 1], pads: [lo, 0, hi, 0], count_include_pad: 1 });
  const sum = emit(b, 'Mul', [avg, fconst(ctx, 'window', [], [size])], `${hint}.sum`);
  return emit(b, 'Reshape', [sum, emit(b, 'Shape', [v], `${hint}.shape`)], hint);
}

/**
 * PyTorch's divisor of each average-pool output position (`avg_pool2d`): the window clipped to the
 * padded input, and with `countIncludePad` false further clipped to the real input.
 */
export function avgPoolDivisors(n: Extract<OpNode, { op: 'avgpool' }>, h: number, w: number, ho: number, wo: number): Float64Array {
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

export const OPS: OpTable = {
  conv: {
    shape(n, [x]) {
      const [, h, w] = chw(x!, n.id);
      return [
        n.outChannels,
        Math.floor((h + n.pads[0] + n.pads[2] - n.kernel[0]) / n.stride[0]) + 1,
        Math.floor((w + n.pads[1] + n.pads[3] - n.kernel[1]) / n.stride[1]) + 1,
      ];
    },
    macs: (n, [x], out) => prod(out) * x![0]! * n.kernel[0] * n.kernel[1],
    lower(n, ctx) {
      if (ctx.dtype === 'float64') return convLower64(n, ctx);
      const ins = [n.input, ctx.param(n.weight)];
      if (n.bias) ins.push(ctx.param(n.bias));
      ctx.b.node('Conv', ins, [n.id], {
        kernel_shape: [...n.kernel],
        strides: [...n.stride],
        pads: onnxPads(n.pads),
      });
    },
    // dx: conv with the flipped transposed kernel (stride 1) or ConvTranspose; dW: per-sample
    // GEMMs of dy with the unfolded input, summed over the batch; db: Σ_nhw dy.
    backward(n, ctx, { dy, saved, needInput, needParam }) {
      const g: Grads = { inputs: [undefined], params: {} };
      const f64 = ctx.dtype === 'float64';
      if (needInput[0]) g.inputs[0] = f64 ? convInputGrad64(n, ctx, dy) : convInputGrad(n, ctx, dy, ctx.param(n.weight));
      if (needParam(n.weight)) g.params[n.weight] = f64 ? convWeightGrad64(n, ctx, dy, saved) : convWeightGrad(n, ctx, dy);
      if (n.bias && needParam(n.bias)) g.params[n.bias] = sumNHW(ctx, dy, `${n.bias}.grad`);
      return g;
    },
  },

  batchnorm: {
    shape: (_n, [x]) => x!,
    macs: () => 0,
    lower(n, ctx) {
      const { b } = ctx;
      if (ctx.mode === 'eval') {
        b.node(
          'BatchNormalization',
          [n.input, ctx.param(n.weight), ctx.param(n.bias), ctx.param(n.runningMean), ctx.param(n.runningVar)],
          [n.id],
          { epsilon: { float: n.eps } },
        );
        return;
      }
      // Train mode, composed from reductions with the textbook variance E[(x − mean)²]
      // (E[x²] − mean² loses precision). Batch statistics normalize; running statistics are
      // updated PyTorch's way (unbiased variance) and returned as side outputs.
      // The normalization itself is ONNX Runtime's inference-mode BatchNormalization fed the batch's
      // mean and variance: (x − μ)/√(σ² + ε)·γ + β in one fused pass (x̂ is never materialized).
      const [c, h, w] = chw(ctx.shape(n.input), n.id);
      const axes = b.constInts('axes_nhw', [0, 2, 3]);
      const mean = emit(b, 'ReduceMean', [n.input, axes], `${n.id}.mean`, { keepdims: 1 });
      const xc = emit(b, 'Sub', [n.input, mean], `${n.id}.xc`);
      const variance = emit(b, 'ReduceMean', [emit(b, 'Mul', [xc, xc], `${n.id}.sq`), axes], `${n.id}.var`, { keepdims: 1 });
      const invstd = emit(
        b,
        'Reciprocal',
        [emit(b, 'Sqrt', [emit(b, 'Add', [variance, fconst(ctx, 'eps', [], [n.eps])], `${n.id}.vareps`)], `${n.id}.std`)],
        `${n.id}.invstd`,
      );
      const shape4 = b.constInts('shape_c11', [1, c, 1, 1]);
      const scale = emit(b, 'Mul', [emit(b, 'Reshape', [ctx.param(n.weight), shape4], `${n.id}.gamma`), invstd], `${n.id}.scale`);
      const flatShape = b.constInts('shape_c', [c]);
      const meanC = emit(b, 'Reshape', [mean, flatShape], `${n.id}.meanC`);
      const varC = emit(b, 'Reshape', [variance, flatShape], `${n.id}.varC`);
      if (ctx.dtype === 'float64') {
        // ONNX's epsilon attribute is float32: compose in float64 to keep ε exact.
        b.node(
          'Add',
          [emit(b, 'Mul', [xc, scale], `${n.id}.scaled`), emit(b, 'Reshape', [ctx.param(n.bias), shape4], `${n.id}.beta`)],
          [n.id],
        );
      } else {
        b.node('BatchNormalization', [n.input, ctx.param(n.weight), ctx.param(n.bias), meanC, varC], [n.id], { epsilon: { float: n.eps } });
      }
      // Running statistics: new = (1 − m)·old + m·batch, the variance unbiased by count/(count − 1).
      const xShape = emit(b, 'Shape', [n.input], `${n.id}.xshape`);
      const nSlice = emit(b, 'Slice', [xShape, b.constInts('s0', [0]), b.constInts('s1', [1])], `${n.id}.n`);
      const nF = emit(b, 'Cast', [nSlice], `${n.id}.nF`, { to: floatCode(ctx) });
      const count = emit(b, 'Mul', [nF, fconst(ctx, 'hw', [1], [h * w])], `${n.id}.count`);
      const countM1 = emit(b, 'Sub', [count, fconst(ctx, 'one', [1], [1])], `${n.id}.countm1`);
      const corr = emit(b, 'Div', [count, countM1], `${n.id}.bessel`);
      const unbiased = emit(b, 'Mul', [varC, corr], `${n.id}.unbiased`);
      const m = n.momentum;
      for (const [stat, batch, key] of [
        [n.runningMean, meanC, `running_mean.${n.scope}`],
        [n.runningVar, unbiased, `running_var.${n.scope}`],
      ] as const) {
        const old = emit(b, 'Mul', [ctx.param(stat), fconst(ctx, 'keep', [], [1 - m])], `${key}.old`);
        const add = emit(b, 'Mul', [batch, fconst(ctx, 'mom', [], [m])], `${key}.add`);
        const out = emit(b, 'Add', [old, add], key);
        ctx.sideOutput(key, out, [c]);
      }
      return { xc, invstd, scale, count };
    },
    // With x̂ = (x − μ)/σ over the batch (M = N·H·W values per channel):
    // dβ = Σ dy, dγ = Σ dy·x̂ = Σ dy·(x − μ) / σ,
    // dx = γ/σ · (dy − dβ/M − x̂·dγ/M) = dy·(γ/σ) + (x − μ)·(−γ/σ³·Σ dy·(x − μ)/M) − (γ/σ)·dβ/M,
    // per-channel coefficients on two full tensors (three passes and two reductions in all).
    backward(n, ctx, { dy, saved, needInput, needParam }) {
      const { b } = ctx;
      const { xc, invstd, scale, count } = saved;
      if (!xc || !invstd || !scale || !count) throw new Error(`${n.id}: batch-norm gradient needs the train-mode lowering's saved values`);
      const [c] = chw(ctx.shape(n.input), n.id);
      const g: Grads = { inputs: [undefined], params: {} };
      const dbeta = sumNHW(ctx, dy, `${n.bias}.grad4`, 1);
      const dyxc = sumNHW(ctx, emit(b, 'Mul', [dy, xc], `${n.id}.dyxc`), `${n.id}.sdyxc`, 1);
      const flat = b.constInts('shape_c', [c]);
      if (needParam(n.weight))
        g.params[n.weight] = emit(b, 'Reshape', [emit(b, 'Mul', [dyxc, invstd], `${n.weight}.grad4`), flat], `${n.weight}.grad`);
      if (needParam(n.bias)) g.params[n.bias] = emit(b, 'Reshape', [dbeta, flat], `${n.bias}.grad`);
      if (needInput[0]) {
        const inv = emit(b, 'Reciprocal', [count], `${n.id}.invcount`);
        // Per channel: k1 = −γ/σ³·Σ dy·(x − μ)/M, k0 = −(γ/σ)·Σ dy/M.
        const k1 = emit(
          b,
          'Neg',
          [
            emit(
              b,
              'Mul',
              [
                emit(b, 'Mul', [scale, emit(b, 'Mul', [invstd, invstd], `${n.id}.inv2`)], `${n.id}.s3`),
                emit(b, 'Mul', [dyxc, inv], `${n.id}.mdyxc`),
              ],
              `${n.id}.k1p`,
            ),
          ],
          `${n.id}.k1`,
        );
        const k0 = emit(b, 'Neg', [emit(b, 'Mul', [scale, emit(b, 'Mul', [dbeta, inv], `${n.id}.mdy`)], `${n.id}.k0p`)], `${n.id}.k0`);
        // dy·(γ/σ) + k0 in one pass: inference-mode BatchNormalization with mean 0, variance 1, ε 0.
        const flatC = (v: string, hint: string): string => emit(b, 'Reshape', [v, flat], hint);
        const direct =
          ctx.dtype === 'float64'
            ? emit(b, 'Add', [emit(b, 'Mul', [dy, scale], `${n.id}.dys`), k0], `${n.id}.dyk`)
            : emit(
                b,
                'BatchNormalization',
                [
                  dy,
                  flatC(scale, `${n.id}.scaleC`),
                  flatC(k0, `${n.id}.k0C`),
                  fconst(ctx, 'zeros_c', [c], new Float32Array(c)),
                  fconst(ctx, 'ones_c', [c], new Float32Array(c).fill(1)),
                ],
                `${n.id}.dyk`,
                { epsilon: { float: 0 } },
              );
        g.inputs[0] = emit(b, 'Add', [direct, emit(b, 'Mul', [xc, k1], `${n.id}.xck`)], `${n.id}.dx`);
      }
      return g;
    },
  },

  relu: {
    shape: (_n, [x]) => x!,
    macs: () => 0,
    lower: (n, ctx) => ctx.b.node('Relu', [n.input], [n.id]),
    // dx = dy·[y > 0], as a float mask times dy (ONNX Runtime's Where is ~2× slower).
    backward(n, ctx, { dy }) {
      const { b } = ctx;
      const pos = emit(b, 'Cast', [emit(b, 'Greater', [n.id, fconst(ctx, 'zero', [], [0])], `${n.id}.pos`)], `${n.id}.mask`, {
        to: floatCode(ctx),
      });
      return { inputs: [emit(b, 'Mul', [dy, pos], `${n.id}.dx`)], params: {} };
    },
  },

  lrn: {
    shape: (_n, [x]) => x!,
    macs: () => 0,
    lower: (n, ctx) =>
      ctx.b.node('LRN', [n.input], [n.id], {
        size: n.size,
        alpha: { float: n.alpha },
        beta: { float: n.beta },
        bias: { float: n.k },
      }),
    // y = x·d^(−β), d = k + (α/n)·Σ_window x²:
    // dx = dy·d^(−β) − (2αβ/n)·x·Σ_{windows j containing i} dy_j·y_j/d_j.
    backward(n, ctx, { dy }) {
      const { b } = ctx;
      const [c] = chw(ctx.shape(n.input), n.id);
      const lo = Math.floor((n.size - 1) / 2);
      const hi = Math.ceil((n.size - 1) / 2);
      const x = n.input;
      const sq = emit(b, 'Mul', [x, x], `${n.id}.sq`);
      const win = channelWindowSum(ctx, sq, c, lo, hi, `${n.id}.sqsum`);
      const d = emit(
        b,
        'Add',
        [emit(b, 'Mul', [win, fconst(ctx, 'alpha_n', [], [n.alpha / n.size])], `${n.id}.as`), fconst(ctx, 'k', [], [n.k])],
        `${n.id}.d`,
      );
      const dpow = emit(b, 'Pow', [d, fconst(ctx, 'neg_beta', [], [-n.beta])], `${n.id}.dpow`);
      const direct = emit(b, 'Mul', [dy, dpow], `${n.id}.direct`);
      const r = emit(b, 'Div', [emit(b, 'Mul', [dy, n.id], `${n.id}.dyy`), d], `${n.id}.r`);
      const back = channelWindowSum(ctx, r, c, hi, lo, `${n.id}.rsum`); // the adjoint window
      const cross = emit(
        b,
        'Mul',
        [emit(b, 'Mul', [x, back], `${n.id}.xr`), fconst(ctx, 'two_ab_n', [], [(2 * n.alpha * n.beta) / n.size])],
        `${n.id}.cross`,
      );
      return { inputs: [emit(b, 'Sub', [direct, cross], `${n.id}.dx`)], params: {} };
    },
  },

  maxpool: {
    shape(n, [x]) {
      const [c, h, w] = chw(x!, n.id);
      return [
        c,
        poolOutSize(h, n.kernel[0], n.stride[0], n.pads[0], n.pads[2], n.ceil),
        poolOutSize(w, n.kernel[1], n.stride[1], n.pads[1], n.pads[3], n.ceil),
      ];
    },
    macs: () => 0,
    lower(n, ctx) {
      const attrs = { kernel_shape: [...n.kernel], strides: [...n.stride], pads: onnxPads(n.pads), ceil_mode: n.ceil ? 1 : 0 };
      if (!ctx.forGrad) {
        ctx.b.node('MaxPool', [n.input], [n.id], attrs);
        return;
      }
      // Indices: each maximum's flat position in the whole N×C×H×W input.
      const indices = ctx.b.fresh(`${n.id}.indices`);
      ctx.b.node('MaxPool', [n.input], [n.id, indices], attrs);
      return { indices };
    },
    // dx = Σ of dy at each window's argmax: ScatterElements with add over the flat input (windows
    // overlap, so MaxUnpool, which assigns, would drop gradient). Separable masks and an ArgMax over
    // the window taps were measured slower (docs/PERFORMANCE.md).
    backward(n, ctx, { dy, saved }) {
      const { b } = ctx;
      if (!saved.indices) throw new Error(`${n.id}: max-pool gradient needs the indices of a forGrad lowering`);
      const size = emit(b, 'Reshape', [emit(b, 'Size', [n.input], `${n.id}.size`), b.constInts('shape', [1])], `${n.id}.size1`);
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
      return { inputs: [emit(b, 'Reshape', [dxf, emit(b, 'Shape', [n.input], `${n.id}.xshape`)], `${n.id}.dx`)], params: {} };
    },
  },

  avgpool: {
    shape(n, [x]) {
      const [c, h, w] = chw(x!, n.id);
      return [
        c,
        poolOutSize(h, n.kernel[0], n.stride[0], n.pads[0], n.pads[2], n.ceil),
        poolOutSize(w, n.kernel[1], n.stride[1], n.pads[1], n.pads[3], n.ceil),
      ];
    },
    macs: () => 0,
    lower: (n, ctx) =>
      ctx.b.node('AveragePool', [n.input], [n.id], {
        kernel_shape: [...n.kernel],
        strides: [...n.stride],
        pads: onnxPads(n.pads),
        ceil_mode: n.ceil ? 1 : 0,
        count_include_pad: n.countIncludePad ? 1 : 0,
      }),
    // dx: each dy divided by its window's divisor (PyTorch's rule, incl. ceil mode and
    // count_include_pad), spread back over the window.
    backward(n, ctx, { dy }) {
      const [c, h, w] = chw(ctx.shape(n.input), n.id);
      const [, ho, wo] = chw(ctx.shape(n.id), n.id);
      const inv = Array.from(avgPoolDivisors(n, h, w, ho, wo), (d) => 1 / d);
      const scaled = emit(ctx.b, 'Mul', [dy, fconst(ctx, `${n.id}.inv_divisor`, [1, 1, ho, wo], inv)], `${n.id}.dys`);
      return { inputs: [spreadWindows(ctx, scaled, c, h, w, ho, wo, n, `${n.id}.dx`)], params: {} };
    },
  },

  adaptiveavgpool: {
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
  },

  concat: {
    shape(n, xs) {
      const [, h, w] = chw(xs[0]!, n.id);
      for (const s of xs) {
        if (s[1] !== h || s[2] !== w)
          throw new Error(`${n.id}: concatenated branches differ in size (${xs.map((x) => x.join('×')).join(', ')})`);
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
  },

  flatten: {
    shape: (_n, [x]) => [prod(x!)],
    macs: () => 0,
    lower: (n, ctx) => ctx.b.node('Flatten', [n.input], [n.id], { axis: 1 }),
    backward: (n, ctx, { dy }) => ({
      inputs: [emit(ctx.b, 'Reshape', [dy, ctx.b.constInts('shape', [0, ...ctx.shape(n.input)])], `${n.id}.dx`)],
      params: {},
    }),
  },

  linear: {
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
  },

  dropout: {
    shape: (_n, [x]) => x!,
    macs: () => 0,
    lower(n, ctx) {
      const { b } = ctx;
      if (ctx.mode === 'eval' || n.p === 0) {
        b.node('Identity', [n.input], [n.id]);
        return;
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
    },
    // dx = dy · mask/(1 − p), the forward's mask.
    backward(n, ctx, { dy, saved }) {
      if (n.p === 0) return { inputs: [emit(ctx.b, 'Identity', [dy], `${n.id}.dx`)], params: {} };
      if (!saved.mask) throw new Error(`${n.id}: dropout gradient needs the mask of a forGrad lowering`);
      return { inputs: [emit(ctx.b, 'Mul', [dy, saved.mask], `${n.id}.dx`)], params: {} };
    },
  },

  affine: {
    shape: (_n, [x]) => x!,
    macs: () => 0,
    lower(n, ctx) {
      const c = n.scale.length;
      const scaled = ctx.b.fresh(`${n.id}.scaled`);
      ctx.b.node('Mul', [n.input, fconst(ctx, 'scale', [1, c, 1, 1], n.scale)], [scaled]);
      ctx.b.node('Add', [scaled, fconst(ctx, 'shift', [1, c, 1, 1], n.shift)], [n.id]);
    },
    backward: (n, ctx, { dy }) => ({
      inputs: [emit(ctx.b, 'Mul', [dy, fconst(ctx, 'scale', [1, n.scale.length, 1, 1], n.scale)], `${n.id}.dx`)],
      params: {},
    }),
  },
};

/** PyTorch's adaptive average pooling as an HW×(oh·ow) matrix: bin i spans [⌊i·H/oh⌋, ⌈(i+1)·H/oh⌉). */
export function adaptivePoolMatrix(h: number, w: number, oh: number, ow: number): Float32Array {
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

/** Output shape of a node given the graph's shapes so far. */
export function inferShape(node: OpNode, shapes: Map<string, Shape>): Shape {
  const ins = (node.op === 'concat' ? node.inputs : [node.input]).map((v) => {
    const s = shapes.get(v);
    if (!s) throw new Error(`${node.id}: unknown input value "${v}"`);
    return s;
  });
  const def = OPS[node.op] as OpDef<OpNode>;
  const out = def.shape(node, ins);
  if (out.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new Error(`${node.scope}: output size [${out.join('×')}] is not positive — the input is too small for this network`);
  }
  return out;
}

/** Multiply-adds per sample of one node. */
export function nodeMacs(node: OpNode, g: Graph): number {
  const ins = (node.op === 'concat' ? node.inputs : [node.input]).map((v) => g.shapes.get(v)!);
  return (OPS[node.op] as OpDef<OpNode>).macs(node, ins, g.shapes.get(node.id)!);
}
