/**
 * GoogLeNet's building blocks as graph-builder functions (`Sym → Sym`), usable on their own to
 * compose other networks the way the Keras tutorial composes Inception blocks with the Keras functional API.
 * Parameter names follow torchvision's modules (`<name>.conv.weight`, `<name>.bn.running_mean`).
 */
import { Sym } from '../graph/builder.js';
import type { Pads } from '../graph/ir.js';
import { OptionError } from '../errors.js';

/** How a conv block normalizes: batch norm with a bias-free conv (torchvision), or conv bias (paper). */
export type Norm = 'batchnorm' | 'none';

export interface ConvOptions {
  /** Output channels. */
  out: number;
  /** Square kernel size. */
  kernel: number;
  /** Stride. Default 1. */
  stride?: number;
  /** Symmetric zero padding, as PyTorch's `padding=`. Default 0. */
  pad?: number;
  /** Default 'batchnorm' (conv → BN(eps 1e-3) → ReLU); 'none' is conv + bias → ReLU (the paper). */
  norm?: Norm;
  /** Batch-norm epsilon. Default 1e-3 (torchvision's BasicConv2d). */
  eps?: number;
  /** Batch-norm momentum, PyTorch's convention. Default 0.1. */
  momentum?: number;
}

/** A raw convolution (no activation): `<name>.weight` [out, in, k, k] and optional `<name>.bias`. */
export function conv2d(x: Sym, name: string, o: { out: number; kernel: number; stride?: number; pad?: number; bias?: boolean }): Sym {
  const b = x.builder;
  const k = o.kernel;
  const p = o.pad ?? 0;
  const s = o.stride ?? 1;
  const weight = b.param(`${name}.weight`, [o.out, x.channels, k, k], 'conv.weight');
  const bias = o.bias ? b.param(`${name}.bias`, [o.out], 'conv.bias') : undefined;
  const pads: Pads = [p, p, p, p];
  return b.add(name, {
    op: 'conv',
    input: x.id,
    weight,
    ...(bias ? { bias } : {}),
    outChannels: o.out,
    kernel: [k, k],
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

/** The Inception module's channel columns (paper Table 1). */
export interface InceptionChannels {
  ch1x1: number;
  ch3x3red: number;
  ch3x3: number;
  ch5x5red: number;
  ch5x5: number;
  poolProj: number;
}

export interface InceptionOptions extends InceptionChannels {
  /** Module name, used as the parameter prefix (`inception3a`). */
  name: string;
  /** Kernel of the "5×5" branch: 5 (paper) or 3 (torchvision, pytorch/vision#906). Default 5. */
  kernel5?: 3 | 5;
  /** Default 'batchnorm'. */
  norm?: Norm;
}

/**
 * The Inception module with 1×1 dimension reductions: four branches concatenated on channels.
 * N×C×H×W → N×(ch1x1 + ch3x3 + ch5x5 + poolProj)×H×W.
 */
export function inception(x: Sym, o: InceptionOptions): Sym {
  const n = o.name;
  const norm = o.norm ?? 'batchnorm';
  const k5 = o.kernel5 ?? 5;
  const b1 = basicConv(x, `${n}.branch1`, { out: o.ch1x1, kernel: 1, norm });
  const b2 = basicConv(basicConv(x, `${n}.branch2.0`, { out: o.ch3x3red, kernel: 1, norm }), `${n}.branch2.1`, {
    out: o.ch3x3,
    kernel: 3,
    pad: 1,
    norm,
  });
  const b3 = basicConv(basicConv(x, `${n}.branch3.0`, { out: o.ch5x5red, kernel: 1, norm }), `${n}.branch3.1`, {
    out: o.ch5x5,
    kernel: k5,
    pad: (k5 - 1) / 2,
    norm,
  });
  const b4 = basicConv(maxPool(x, `${n}.branch4.0`, { kernel: 3, stride: 1, pad: 1, ceil: true }), `${n}.branch4.1`, {
    out: o.poolProj,
    kernel: 1,
    norm,
  });
  return concat([b1, b2, b3, b4], n);
}

/**
 * The naive Inception module (the Keras tutorial's `naive_inception`): 1×1, 3×3 and 5×5 convolutions and a 3×3 max pool side by
 * side on the full input, concatenated. N×C×H×W → N×(c1 + c3 + c5 + C)×H×W.
 */
export function naiveInception(x: Sym, o: { name: string; ch1x1: number; ch3x3: number; ch5x5: number; norm?: Norm }): Sym {
  const norm = o.norm ?? 'batchnorm';
  const n = o.name;
  return concat(
    [
      basicConv(x, `${n}.branch1`, { out: o.ch1x1, kernel: 1, norm }),
      basicConv(x, `${n}.branch2`, { out: o.ch3x3, kernel: 3, pad: 1, norm }),
      basicConv(x, `${n}.branch3`, { out: o.ch5x5, kernel: 5, pad: 2, norm }),
      maxPool(x, `${n}.branch4`, { kernel: 3, stride: 1, pad: 1, ceil: true }),
    ],
    n,
  );
}

export interface AuxOptions {
  name: string;
  numClasses: number;
  /** 'adaptive' pools to 4×4 whatever the input (torchvision); 'fixed' is the paper's 5×5/3 average pool. */
  pool: 'adaptive' | 'fixed';
  /** 1×1 conv channels. Default 128. */
  convChannels?: number;
  /** Hidden units of fc1. Default 1024. */
  hidden?: number;
  /** Dropout after fc1. Default 0.7. */
  dropout?: number;
  norm?: Norm;
}

/** The auxiliary classifier: avg pool → 1×1 conv 128 → fc 1024 → ReLU → dropout 0.7 → fc. */
export function inceptionAux(x: Sym, o: AuxOptions): Sym {
  const n = o.name;
  // aux1: N×512×14×14 → N×512×4×4 (either pool at 224×224)
  const pooled =
    o.pool === 'adaptive' ? adaptiveAvgPool(x, `${n}.pool`, 4) : avgPool(x, `${n}.pool`, { kernel: 5, stride: 3, ceil: false });
  const c = basicConv(pooled, `${n}.conv`, { out: o.convChannels ?? 128, kernel: 1, norm: o.norm ?? 'batchnorm' });
  // N×128×4×4 → N×2048 (NCHW flatten, as PyTorch's torch.flatten)
  const h = relu(linear(flatten(c, `${n}.flatten`), `${n}.fc1`, { out: o.hidden ?? 1024 }), `${n}.relu`);
  return linear(dropout(h, `${n}.dropout`, o.dropout ?? 0.7), `${n}.fc2`, { out: o.numClasses });
}
