/**
 * GoogLeNet's Inception module (with and without 1×1 reductions) and its auxiliary classifier
 * (Szegedy et al. 2014, the paper's Table 1 columns), with torchvision's names
 * (`inception3a.branch2.1.conv.weight`, `aux1.fc1.weight`).
 */
import type { Sym } from '../graph/builder.js';
import { adaptiveAvgPool, avgPool, basicConv, concat, dropout, flatten, linear, maxPool, relu, type Norm } from './basic.js';

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
