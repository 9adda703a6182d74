/**
 * Normalizations: batch norm (train mode from its own reductions, eval mode as ONNX's
 * BatchNormalization), local response normalization (the paper's LRN), and the fixed per-channel
 * affine map of torchvision's `transform_input`.
 */
import { InternalError } from '../../errors.js';
import type { AffineNode, BatchNormNode, LrnNode } from '../ir.js';
import { chw, emit, fconst, floatCode, sumNHW } from './shared.js';
import type { GradArgs, Grads, LowerCtx, OpDef } from './types.js';

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

export const batchnorm: OpDef<BatchNormNode> = {
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
    // count = N·H·W, N from xc, which the backward keeps anyway: ONNX Runtime runs a Shape node
    // late, so a Shape of the input would keep the input alive until the backward.
    const xShape = emit(b, 'Shape', [xc], `${n.id}.xshape`);
    const nSlice = emit(b, 'Slice', [xShape, b.constInts('s0', [0]), b.constInts('s1', [1])], `${n.id}.n`);
    const nF = emit(b, 'Cast', [nSlice], `${n.id}.nF`, { to: floatCode(ctx) });
    const count = emit(b, 'Mul', [nF, fconst(ctx, 'hw', [1], [h * w])], `${n.id}.count`);
    // mean((x − mean)²) through a squared copy: ONNX Runtime's ReduceSumSquare over N, H, W adds
    // the squares one by one in float32, which took Inception v3's train-mode logits from 4e-5 to
    // 2e-4 of torchvision's (and its aux output to 4e-4); ReduceMean's sums are vectorized.
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
  backward(n, ctx, args) {
    if (ctx.mode === 'eval') return batchnormEvalGrad(n, ctx, args);
    const { dy, saved, needInput, needParam } = args;
    const { b } = ctx;
    const { xc, invstd, scale, count } = saved;
    if (!xc || !invstd || !scale || !count)
      throw new InternalError(`${n.id}: batch-norm gradient needs the train-mode lowering's saved values`);
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
};

/**
 * Eval mode, y = (x − μ)·γ/√(σ² + ε) + β with the running μ and σ² fixed: a per-channel affine map,
 * so dx = dy·γ/√(σ² + ε), dγ = Σ dy·(x − μ)/√(σ² + ε), dβ = Σ dy (what Grad-CAM differentiates).
 */
function batchnormEvalGrad(n: BatchNormNode, ctx: LowerCtx, { dy, needInput, needParam }: GradArgs): Grads {
  const { b } = ctx;
  const [c] = chw(ctx.shape(n.input), n.id);
  const shape4 = b.constInts('shape_c11', [1, c, 1, 1]);
  const flat = b.constInts('shape_c', [c]);
  const vareps = emit(b, 'Add', [ctx.param(n.runningVar), fconst(ctx, 'eps', [], [n.eps])], `${n.id}.vareps`);
  const invstd = emit(
    b,
    'Reshape',
    [emit(b, 'Reciprocal', [emit(b, 'Sqrt', [vareps], `${n.id}.std`)], `${n.id}.invstd_c`), shape4],
    `${n.id}.invstd`,
  );
  const g: Grads = { inputs: [undefined], params: {} };
  if (needInput[0]) {
    const scale = emit(b, 'Mul', [emit(b, 'Reshape', [ctx.param(n.weight), shape4], `${n.id}.gamma`), invstd], `${n.id}.scale`);
    g.inputs[0] = emit(b, 'Mul', [dy, scale], `${n.id}.dx`);
  }
  if (needParam(n.bias)) g.params[n.bias] = emit(b, 'Reshape', [sumNHW(ctx, dy, `${n.bias}.grad4`, 1), flat], `${n.bias}.grad`);
  if (needParam(n.weight)) {
    const xhat = emit(
      b,
      'Mul',
      [emit(b, 'Sub', [n.input, emit(b, 'Reshape', [ctx.param(n.runningMean), shape4], `${n.id}.mean`)], `${n.id}.xc`), invstd],
      `${n.id}.xhat`,
    );
    const dgamma = sumNHW(ctx, emit(b, 'Mul', [dy, xhat], `${n.id}.dyxhat`), `${n.weight}.grad4`, 1);
    g.params[n.weight] = emit(b, 'Reshape', [dgamma, flat], `${n.weight}.grad`);
  }
  return g;
}

export const lrn: OpDef<LrnNode> = {
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
};

export const affine: OpDef<AffineNode> = {
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
};
