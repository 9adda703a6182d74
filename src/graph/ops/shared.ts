/**
 * Small helpers that several operations' lowerings and gradients share: reading shapes, emitting
 * one ONNX node, constants in the graph's element type, and the two reductions that bias and
 * weight gradients are made of.
 */
import { OptionError } from '../../errors.js';
import type { Pads, Shape } from '../ir.js';
import type { OnnxGraphBuilder } from '../onnx.js';
import type { LowerCtx } from './types.js';

/** The product of a list of sizes (1 for an empty list). */
export const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** A per-sample feature-map shape as [C, H, W]; `what` names the node in the error. */
export function chw(s: Shape, what: string): [number, number, number] {
  if (s.length !== 3) throw new OptionError(`${what}: expected a C×H×W input, got [${s.join('×')}]`, { option: 'input' });
  return [s[0]!, s[1]!, s[2]!];
}

/** Padding in ONNX's order: [top, left, bottom, right] = [x1_begin, x2_begin, x1_end, x2_end]. */
export function onnxPads(p: Pads): number[] {
  return [p[0], p[1], p[2], p[3]];
}

/** Emits one single-output ONNX node and returns its (fresh) output name. */
export function emit(
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

/**
 * The float scalar `value` (code 1: float32, 11: float64), computed from the size of `after`, so
 * that a node reading it runs only once `after` exists. ONNX Runtime runs a node as soon as its
 * inputs are ready: a node of the backward that reads only forward values (a ReLU's mask, the
 * im2col of a weight gradient, an optimizer's decay term) would run during the forward, and its
 * output would be kept, taking memory, until the backward reads it. Exact: value + 0.
 */
export function scalarAfter(b: OnnxGraphBuilder, after: string, value: number, floatType: number, hint: string): string {
  const zeroInt = emit(
    b,
    'Mul',
    [emit(b, 'Size', [after], `${hint}.size`), b.constant('zero', { dims: [], dtype: 'int64', data: new BigInt64Array(1) })],
    `${hint}.zero_int`,
  );
  const zero = emit(b, 'Cast', [zeroInt], `${hint}.zero`, { to: floatType });
  if (value === 0) return zero;
  const v =
    floatType === 11
      ? b.constant('value', { dims: [], dtype: 'float64', data: Float64Array.of(value) })
      : b.constFloats('value', [], [value]);
  return emit(b, 'Add', [zero, v], hint);
}

/** A float constant in the context's element type. */
export function fconst(ctx: LowerCtx, hint: string, dims: readonly number[], values: ArrayLike<number>): string {
  if (ctx.dtype === 'float64') return ctx.b.constant(hint, { dims, dtype: 'float64', data: Float64Array.from(values) });
  return ctx.b.constFloats(hint, dims, values);
}

/** ONNX's code of the context's float type, for Cast's `to` (1 = float32, 11 = float64). */
export const floatCode = (ctx: LowerCtx): number => (ctx.dtype === 'float64' ? 11 : 1);

/** The sum over batch and space of an N×C×H×W value: a [C] vector (bias and batch-norm gradients). */
export function sumNHW(ctx: LowerCtx, x: string, hint: string, keepdims = 0): string {
  return emit(ctx.b, 'ReduceSum', [x, ctx.b.constInts('axes_nhw', [0, 2, 3])], hint, { keepdims });
}

/** Sum over the batch of per-sample matrices dy_n · x_nᵀ: N×A×K, N×B×K → A×B (weight gradients). */
export function batchOuter(ctx: LowerCtx, dy: string, x: string, hint: string): string {
  const { b } = ctx;
  // Transpose + MatMul: ONNX Runtime fuses the pair into one MatMul with a transposed B (no copy).
  const xt = emit(b, 'Transpose', [x], `${hint}.xt`, { perm: [0, 2, 1] });
  const per = emit(b, 'MatMul', [dy, xt], `${hint}.per_sample`);
  return emit(b, 'ReduceSum', [per, b.constInts('axes0', [0])], hint, { keepdims: 0 });
}
