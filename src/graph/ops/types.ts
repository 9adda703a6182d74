/**
 * What every operation in the table (`index.ts`) provides, and what its lowering sees.
 *
 * Each operation has one entry with four parts side by side (as in tinygrad's and PyTorch's
 * derivatives tables): its shape rule, its cost, its ONNX lowering, and its gradient. The
 * gradient part (`backward`) emits ONNX nodes that compute the gradients of the node's inputs and
 * parameters from the gradient of its output; `src/graph/autodiff.ts` calls it, walking the graph
 * backwards.
 */
import type { ConvNode, OpKind, OpNode, Shape } from '../ir.js';
import type { OnnxGraphBuilder } from '../onnx.js';

/** Element type of floating-point values in a lowered graph. */
export type FloatType = 'float32' | 'float64';

/** How a convolution's weight gradient is formed; see docs/PERFORMANCE.md for measurements. */
export type ConvWeightGradMethod = 'unfold' | 'shift';

/** How convolution gradients are formed. Every choice computes the same values; they differ in speed. */
export interface ConvGradOptions {
  /**
   * The weight gradient of a k×k convolution (k > 1): 'unfold' cuts the input into k×k patches
   * with one convolution and multiplies them with the output gradient once per sample; 'shift'
   * does one multiplication per kernel position over a shifted view of the input. Default 'unfold'.
   */
  weightGrad?: ConvWeightGradMethod;
  /**
   * The input gradient of a 1×1 convolution: 'conv' (a convolution with the transposed kernel) or
   * 'matmul' (one matrix product). Default 'conv' (the two take the same CPU time).
   */
  inputGrad1x1?: 'conv' | 'matmul';
}

/**
 * How a max pool's input gradient is formed; all give PyTorch's gradient (each window's dy to its
 * first maximum in row-major order), the same up to the order in which shared windows are added
 * (`maxpool-grad.ts`; costs in docs/PERFORMANCE.md).
 *
 * - 'indices': the forward's MaxPool also outputs each maximum's position (Indices, int64), and
 *   the backward scatters dy there (ScatterElements). ONNX Runtime's CPU MaxPool with Indices is a
 *   scalar loop: many times its vectorised MaxPool without.
 * - 'masks': the forward is a plain MaxPool; the backward finds each window's first maximum again,
 *   one axis at a time, with first-maximum masks (Pad, Slice, Equal, Cast, Mul, Sub, Add). Nothing
 *   kept from the forward; no Indices, which ONNX Runtime's WebGPU providers lack.
 * - 'mixed': 'masks' for stride-1 pools (the Inception modules' 3×3/1: about half the CPU time of
 *   'indices'), 'indices' for strided ones (where the masks' strided slices and interleaving cost
 *   more than the scatter). The fastest on ONNX Runtime's CPU provider.
 */
export type MaxPoolGradMethod = 'indices' | 'masks' | 'mixed';

/**
 * A replacement for how convolutions are lowered and differentiated. ONNX Runtime's CPU `Conv`
 * exists in float32 only, so a float64 graph (the gradient tests) needs one; the tests' own is in
 * `test/float64-ops.ts`.
 */
export interface ConvLowering {
  /** Emits the nodes producing `n.id`; returns what the gradient needs. */
  lower(n: ConvNode, ctx: LowerCtx): Saved | void;
  /** Emits the gradient of the convolution's input. */
  inputGrad(n: ConvNode, ctx: LowerCtx, dy: string): string;
  /** Emits the gradient of the convolution's weight (PyTorch's Cout×Cin×kh×kw layout). */
  weightGrad(n: ConvNode, ctx: LowerCtx, dy: string, saved: Saved): string;
}

/** Choices of how a graph is lowered. None of them changes what the graph computes. */
export interface LoweringOptions {
  /** How convolution gradients are formed. Default: `{ weightGrad: 'unfold', inputGrad1x1: 'conv' }`. */
  convGrad?: ConvGradOptions;
  /** Lower convolutions with this instead of ONNX's `Conv` (needed for float64). Default: ONNX's `Conv`. */
  conv?: ConvLowering;
  /**
   * How max-pool gradients are formed (see {@link MaxPoolGradMethod}): 'indices' (ScatterElements
   * over MaxPool's `Indices` output), 'masks' (first-maximum masks, no `Indices`: for providers
   * that lack it, e.g. WebGPU) or 'mixed' (masks for stride-1 pools, indices for strided ones: the
   * CPU's fastest). Default 'indices'.
   */
  maxPoolGrad?: MaxPoolGradMethod;
  /**
   * ONNX Runtime's NCHWc block size (8 with AVX2, 16 with AVX-512), where its CPU provider has the
   * blocked convolution kernels (`com.microsoft.nchwc`): stride-1 k×k convolutions (k > 1) and
   * their input gradients then run blocked, with their weights reordered inside the graph
   * (`conv-nchwc.ts`). ONNX Runtime's own NCHWc rewrite needs constant weights, which a training
   * step's are not. Float32 only. Default: off (ONNX's `Conv`).
   */
  nchwcBlock?: number;
}

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
  /**
   * Train mode: lower for differentiation, keeping what `backward` needs (pool indices with
   * `maxPoolGrad` 'indices', dropout masks). Default false.
   */
  readonly forGrad?: boolean;
  /**
   * With `forGrad`: an int64 scalar value (in [0, 2³¹)) that seeds the dropout masks, so a step
   * is a pure function of its inputs. Without it, ONNX Runtime's Dropout draws the masks.
   */
  readonly seed?: string;
  /** How operations are lowered (see {@link LoweringOptions}). Default: every default. */
  readonly options?: LoweringOptions;
}

/** Values a train-mode lowering keeps for its gradient, by key (`indices`, `xhat`, …). */
export type Saved = Record<string, string>;

export interface GradArgs {
  /** Gradient of the loss with respect to the node's value (same shape, batch first). */
  dy: string;
  /**
   * The gradient of each value the node produces, in `nodeOutputs` order (`dys[0]` is `dy`). Only
   * fused sibling convolutions produce more than one value; an output that does not reach the
   * loss gets zeros.
   */
  dys: readonly string[];
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
  /** Per-sample shape of the node's value from its inputs' shapes. */
  shape(node: N, inputs: Shape[]): Shape;
  /** Multiply-adds per sample (weights × output positions for conv/linear, as torchinfo counts). */
  macs(node: N, inputs: Shape[], out: Shape): number;
  /** Emits ONNX nodes producing the node's values (`nodeOutputs`); with `ctx.forGrad`, returns what `backward` needs. */
  lower(node: N, ctx: LowerCtx): Saved | void;
  /** Emits the gradient of the node's inputs and parameters (train-mode semantics). */
  backward(node: N, ctx: LowerCtx, args: GradArgs): Grads;
}

/** One entry per operation kind. */
export type OpTable = { [K in OpKind]: OpDef<Extract<OpNode, { op: K }>> };
