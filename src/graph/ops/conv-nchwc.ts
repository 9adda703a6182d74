/**
 * Convolutions on ONNX Runtime's blocked NCHWc kernels (`LoweringOptions.nchwcBlock`): the CPU
 * provider's `com.microsoft.nchwc` Conv, between ReorderInput (NCHW → channel blocks of B) and
 * ReorderOutput. Its weights must be in ONNX Runtime's OIHWBiBo order: output and input channels
 * padded to multiples of B with zeros, then [O/B, I/B, kh, kw, Bi, Bo]. ONNX Runtime reorders
 * constant weights itself when it loads a model; a training step's weights are inputs, so the
 * reorder is a Pad, a Reshape and a Transpose of the weights inside the graph, once per step.
 */
import type { LowerCtx } from './types.js';
import { emit } from './shared.js';

const NCHWC = 'com.microsoft.nchwc';

/** Whether a convolution runs blocked: the option set, float32, k > 1, stride 1, input channels a multiple of 4 (ReorderInput's rule). */
export function useNchwc(ctx: LowerCtx, cin: number, kernel: readonly [number, number], stride: readonly [number, number]): boolean {
  const block = ctx.options?.nchwcBlock ?? 0;
  return (
    block > 0 &&
    ctx.dtype !== 'float64' &&
    !ctx.options?.conv &&
    (kernel[0] > 1 || kernel[1] > 1) &&
    stride[0] === 1 &&
    stride[1] === 1 &&
    cin % 4 === 0
  );
}

/**
 * y = conv(x, w) (+ bias) on the NCHWc kernels: N×Cin×H×W, Cout×Cin×kh×kw → N×Cout×Ho×Wo. `pads`
 * in ONNX's order; stride 1.
 */
export function nchwcConv(
  ctx: LowerCtx,
  x: string,
  w: string,
  bias: string | undefined,
  [cout, cin, kh, kw]: readonly [number, number, number, number],
  pads: readonly number[],
  hint: string,
): string {
  const { b } = ctx;
  const bs = ctx.options!.nchwcBlock!;
  const [op, ip] = [Math.ceil(cout / bs) * bs, Math.ceil(cin / bs) * bs];
  const padded =
    op === cout && ip === cin ? w : emit(b, 'Pad', [w, b.constInts('pads', [0, 0, 0, 0, op - cout, ip - cin, 0, 0])], `${hint}.wpad`);
  // Cout×Cin×kh×kw → O/B×Bo×I/B×Bi×kh×kw → O/B×I/B×kh×kw×Bi×Bo, seen as Op×Ip×kh×kw.
  const blocks = emit(b, 'Reshape', [padded, b.constInts('shape', [op / bs, bs, ip / bs, bs, kh, kw])], `${hint}.wblocks`);
  const oihwbibo = emit(b, 'Transpose', [blocks], `${hint}.wnchwc`, { perm: [0, 2, 4, 5, 3, 1] });
  const wr = emit(b, 'Reshape', [oihwbibo, b.constInts('shape', [op, ip, kh, kw])], `${hint}.wreordered`);
  const ins = [reorderInput(ctx, x, `${hint}.xnchwc`), wr];
  if (bias) ins.push(op === cout ? bias : emit(b, 'Pad', [bias, b.constInts('pads', [0, op - cout])], `${hint}.bpad`));
  const yb = b.fresh(`${hint}.ynchwc`);
  b.node('Conv', ins, [yb], { kernel_shape: [kh, kw], pads: [...pads] }, NCHWC);
  const y = b.fresh(hint);
  b.node('ReorderOutput', [yb], [y], { channels: cout }, NCHWC);
  return y;
}

function reorderInput(ctx: LowerCtx, x: string, hint: string): string {
  const out = ctx.b.fresh(hint);
  ctx.b.node('ReorderInput', [x], [out], undefined, NCHWC);
  return out;
}
