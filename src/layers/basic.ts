/**
 * The basic blocks both networks are made of, as graph-builder functions (`Sym → Sym`):
 * convolutions (square or `[h, w]` kernels), batch norm, torchvision's BasicConv2d, pools,
 * dropout, fully connected layers, concatenation. Parameter names follow torchvision's modules
 * (`<name>.conv.weight`, `<name>.bn.running_mean`).
 */
import { Sym } from '../graph/builder.js';
import type { Pads } from '../graph/ir.js';
import { OptionError } from '../errors.js';

/** How a conv block normalizes: batch norm with a bias-free conv (torchvision), or conv bias (paper). */
export type Norm = 'batchnorm' | 'none';

/** A size for both spatial axes, or `[height, width]` (PyTorch's `kernel_size=(1, 7)`). */
export type Size2 = number | readonly [number, number];

/** `[height, width]` of a {@link Size2}. */
function pair(s: Size2): [number, number] {
  return typeof s === 'number' ? [s, s] : [s[0], s[1]];
}

export interface ConvOptions {
  /** Output channels. */
  out: number;
  /** Kernel size: square, or `[height, width]` (Inception v3's 1×7 and 7×1). */
  kernel: Size2;
  /** Stride. Default 1. */
  stride?: number;
  /** Zero padding, as PyTorch's `padding=`: the same on every side, or `[height, width]` (`(0, 3)`). Default 0. */
  pad?: Size2;
  /** Default 'batchnorm' (conv → BN(eps 1e-3) → ReLU); 'none' is conv + bias → ReLU (the paper). */
  norm?: Norm;
  /** Batch-norm epsilon. Default 1e-3 (torchvision's BasicConv2d). */
  eps?: number;
  /** Batch-norm momentum, PyTorch's convention. Default 0.1. */
  momentum?: number;
}

/** A raw convolution (no activation): `<name>.weight` [out, in, kh, kw] and optional `<name>.bias`. */
export function conv2d(x: Sym, name: string, o: { out: number; kernel: Size2; stride?: number; pad?: Size2; bias?: boolean }): Sym {
  const b = x.builder;
  const [kh, kw] = pair(o.kernel);
  const [ph, pw] = pair(o.pad ?? 0);
  const s = o.stride ?? 1;
  const weight = b.param(`${name}.weight`, [o.out, x.channels, kh, kw], 'conv.weight');
  const bias = o.bias ? b.param(`${name}.bias`, [o.out], 'conv.bias') : undefined;
  const pads: Pads = [ph, pw, ph, pw];
  return b.add(name, {
    op: 'conv',
    input: x.id,
    weight,
    ...(bias ? { bias } : {}),
    outChannels: o.out,
    kernel: [kh, kw],
    stride: [s, s],
    pads,
  });
}

export function batchNorm(x: Sym, name: string, o: { eps?: number; momentum?: number } = {}): Sym {
  const b = x.builder;
  const c = x.channels;
  return b.add(name, {
    op: 'batchnorm',
    input: x.id,
    weight: b.param(`${name}.weight`, [c], 'bn.weight'),
    bias: b.param(`${name}.bias`, [c], 'bn.bias'),
    runningMean: b.param(`${name}.running_mean`, [c], 'bn.running_mean'),
    runningVar: b.param(`${name}.running_var`, [c], 'bn.running_var'),
    numBatches: b.param(`${name}.num_batches_tracked`, [], 'bn.num_batches_tracked'),
    eps: o.eps ?? 1e-3,
    momentum: o.momentum ?? 0.1,
  });
}

export function relu(x: Sym, name: string): Sym {
  return x.builder.add(name, { op: 'relu', input: x.id });
}

/** torchvision's BasicConv2d (conv → BN → ReLU) or the paper's conv + bias → ReLU. */
export function basicConv(x: Sym, name: string, o: ConvOptions): Sym {
  const norm = o.norm ?? 'batchnorm';
  const c = conv2d(x, `${name}.conv`, { out: o.out, kernel: o.kernel, stride: o.stride ?? 1, pad: o.pad ?? 0, bias: norm === 'none' });
  const n = norm === 'batchnorm' ? batchNorm(c, `${name}.bn`, { eps: o.eps ?? 1e-3, momentum: o.momentum ?? 0.1 }) : c;
  return relu(n, `${name}.relu`);
}

/** Local response normalization across channels (the paper: size 5, α 1e-4, β 0.75, k 1). */
export function lrn(x: Sym, name: string, o: { size?: number; alpha?: number; beta?: number; k?: number } = {}): Sym {
  return x.builder.add(name, { op: 'lrn', input: x.id, size: o.size ?? 5, alpha: o.alpha ?? 1e-4, beta: o.beta ?? 0.75, k: o.k ?? 1 });
}

export interface PoolOptions {
  kernel: number;
  /** Default: the kernel size. */
  stride?: number;
  /** Default 0. */
  pad?: number;
  /** PyTorch's `ceil_mode`. Default true (torchvision GoogLeNet's pools). */
  ceil?: boolean;
}

export function maxPool(x: Sym, name: string, o: PoolOptions): Sym {
  const p = o.pad ?? 0;
  return x.builder.add(name, {
    op: 'maxpool',
    input: x.id,
    kernel: [o.kernel, o.kernel],
    stride: [o.stride ?? o.kernel, o.stride ?? o.kernel],
    pads: [p, p, p, p],
    ceil: o.ceil ?? true,
  });
}

export function avgPool(x: Sym, name: string, o: PoolOptions): Sym {
  const p = o.pad ?? 0;
  return x.builder.add(name, {
    op: 'avgpool',
    input: x.id,
    kernel: [o.kernel, o.kernel],
    stride: [o.stride ?? o.kernel, o.stride ?? o.kernel],
    pads: [p, p, p, p],
    ceil: o.ceil ?? false,
    countIncludePad: true,
  });
}

/** PyTorch's AdaptiveAvgPool2d: bin i covers [⌊i·H/out⌋, ⌈(i+1)·H/out⌉). */
export function adaptiveAvgPool(x: Sym, name: string, out: number | [number, number]): Sym {
  const [oh, ow] = typeof out === 'number' ? [out, out] : out;
  return x.builder.add(name, { op: 'adaptiveavgpool', input: x.id, output: [oh, ow] });
}

/** Global average pooling: N×C×H×W → N×C×1×1. */
export function globalAvgPool(x: Sym, name = 'avgpool'): Sym {
  return adaptiveAvgPool(x, name, 1);
}

export function flatten(x: Sym, name = 'flatten'): Sym {
  return x.builder.add(name, { op: 'flatten', input: x.id });
}

export function dropout(x: Sym, name: string, p: number): Sym {
  return x.builder.add(name, { op: 'dropout', input: x.id, p });
}

/** Fully connected layer: `<name>.weight` [out, in], `<name>.bias` [out]. */
export function linear(x: Sym, name: string, o: { out: number; bias?: boolean }): Sym {
  if (x.shape.length !== 1) throw new OptionError(`${name}: linear expects a flat input, got [${x.shape.join('×')}]`, { option: 'x' });
  const b = x.builder;
  const weight = b.param(`${name}.weight`, [o.out, x.shape[0]!], 'linear.weight');
  const bias = o.bias === false ? undefined : b.param(`${name}.bias`, [o.out], 'linear.bias');
  return b.add(name, { op: 'linear', input: x.id, weight, ...(bias ? { bias } : {}), outFeatures: o.out });
}

export function concat(xs: Sym[], name: string): Sym {
  const b = xs[0]!.builder;
  return b.add(name, { op: 'concat', inputs: xs.map((x) => x.id) });
}

/** Global maximum pooling (Keras' `GlobalMaxPooling2D`): N×C×H×W → N×C×1×1. */
export function globalMaxPool(x: Sym, name: string): Sym {
  const [, h, w] = x.shape;
  return x.builder.add(name, { op: 'maxpool', input: x.id, kernel: [h!, w!], stride: [h!, w!], pads: [0, 0, 0, 0], ceil: false });
}

/** A channel count under the width multiplier. */
export function scaleChannels(c: number, width: number): number {
  return Math.max(1, Math.round(c * width));
}
