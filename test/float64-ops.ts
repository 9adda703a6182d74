/**
 * A float64 convolution for the gradient tests. ONNX Runtime's CPU Conv (and ConvTranspose) exist
 * in float32 only, so a graph lowered in float64 (the finite-difference checks, and the training
 * graph checked against PyTorch's float64 autograd) computes each convolution as im2col, one
 * Gather from the padded input, followed by a MatMul, and its gradients from the same indices.
 *
 *   lowerForward({ ..., dtype: 'float64', lowering: { conv: float64Conv } })
 */
import { InternalError } from '../src/errors.js';
import type { ConvNode } from '../src/graph/ir.js';
import type { ConvLowering, LowerCtx, Saved } from '../src/graph/ops/index.js';
import { batchOuter, chw, emit } from '../src/graph/ops/shared.js';

/**
 * im2col indices of a convolution over a zero-padded Cin×Hp×Wp input: row i·k² + (ky·kw + kx),
 * column y·Wo + x holds the flat position of x_pad[i, s·y + ky, s·x + kx] (OIHW order).
 */
function unfoldIndices(n: ConvNode, cin: number, hp: number, wp: number, ho: number, wo: number): BigInt64Array {
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
function convLower64(n: ConvNode, ctx: LowerCtx): Saved {
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
function convInputGrad64(n: ConvNode, ctx: LowerCtx, dy: string): string {
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

/** Weight gradient of the float64 convolution from its saved columns. */
function convWeightGrad64(n: ConvNode, ctx: LowerCtx, dy: string, saved: Saved): string {
  const { b } = ctx;
  const [cin] = chw(ctx.shape(n.input), n.id);
  const [cout, ho, wo] = chw(ctx.shape(n.id), n.id);
  if (!saved.cols) throw new InternalError(`${n.id}: float64 conv gradient needs the columns of its lowering`);
  const dyf = emit(b, 'Reshape', [dy, b.constInts('shape', [0, cout, ho * wo])], `${n.id}.dyf`);
  const g = batchOuter(ctx, dyf, saved.cols, `${n.weight}.grad2d`);
  return emit(b, 'Reshape', [g, b.constInts('shape', [cout, cin, n.kernel[0], n.kernel[1]])], `${n.weight}.grad`);
}

/** Convolutions as im2col + MatMul, for graphs lowered in float64 (`LoweringOptions.conv`). */
export const float64Conv: ConvLowering = { lower: convLower64, inputGrad: convInputGrad64, weightGrad: convWeightGrad64 };
