/**
 * Inception v3's modules (Szegedy et al. 2015, "Rethinking the Inception Architecture for
 * Computer Vision", arXiv 1512.00567) as graph-builder functions, with torchvision's module and
 * parameter names (`Mixed_5b.branch5x5_2.conv.weight`). The branch widths are the ones
 * torchvision's `InceptionA` … `InceptionE` and `InceptionAux` hard-code; a module's arguments
 * (pool features, the 7×7 branches' width) come from the model's table (`models/inception-v3.ts`).
 *
 * Every convolution is `BasicConv2d` (bias-free conv → batch norm, ε 0.001 → ReLU). The large
 * kernels are factored: InceptionA's 3×3-3×3 stands for a 5×5 (figure 5 of the paper), InceptionC
 * splits 7×7 into 1×7 and 7×1 (figure 6), InceptionE ends its branches in parallel 1×3 and 3×1
 * (figure 7); InceptionB and InceptionD halve the grid with stride-2 convolutions beside a max
 * pool (figure 10).
 */
import type { Sym } from '../graph/builder.js';
import { adaptiveAvgPool, avgPool, basicConv, concat, flatten, linear, maxPool, scaleChannels, type Size2 } from './basic.js';

/** What every Inception v3 module takes. */
export interface MixedOptions {
  /** Module name and parameter prefix (`Mixed_5b`). */
  name: string;
  /** Multiplier on every channel count inside the module. Default 1. */
  width?: number;
}

/** BasicConv2d with kernel and padding as PyTorch writes them, channels scaled by the width. */
function conv(x: Sym, o: MixedOptions, branch: string, out: number, kernel: Size2, more: { stride?: number; pad?: Size2 } = {}): Sym {
  return basicConv(x, `${o.name}.${branch}`, { out: scaleChannels(out, o.width ?? 1), kernel, ...more });
}

/** The 3×3/1 average pool (padding 1, padded zeros counted) in front of a `branch_pool` convolution. */
function avgPoolBranch(x: Sym, o: MixedOptions, out: number): Sym {
  const pooled = avgPool(x, `${o.name}.branch_pool.avg_pool`, { kernel: 3, stride: 1, pad: 1, ceil: false });
  return conv(pooled, o, 'branch_pool', out, 1);
}

/** The 3×3/2 max pool of the grid-reduction modules (no padding, floor mode). */
const reducingPool = (x: Sym, o: MixedOptions): Sym => maxPool(x, `${o.name}.max_pool`, { kernel: 3, stride: 2, ceil: false });

/** InceptionA (Mixed_5b–5d): N×C×35×35 → N×(224 + poolFeatures)×35×35. */
export function inceptionA(x: Sym, o: MixedOptions & { poolFeatures: number }): Sym {
  const b1 = conv(x, o, 'branch1x1', 64, 1);
  const b5 = conv(conv(x, o, 'branch5x5_1', 48, 1), o, 'branch5x5_2', 64, 5, { pad: 2 });
  let b3 = conv(x, o, 'branch3x3dbl_1', 64, 1);
  b3 = conv(conv(b3, o, 'branch3x3dbl_2', 96, 3, { pad: 1 }), o, 'branch3x3dbl_3', 96, 3, { pad: 1 });
  return concat([b1, b5, b3, avgPoolBranch(x, o, o.poolFeatures)], o.name);
}

/** InceptionB (Mixed_6a), grid reduction: N×288×35×35 → N×(480 + 288)×17×17. */
export function inceptionB(x: Sym, o: MixedOptions): Sym {
  const b3 = conv(x, o, 'branch3x3', 384, 3, { stride: 2 });
  let bd = conv(x, o, 'branch3x3dbl_1', 64, 1);
  bd = conv(conv(bd, o, 'branch3x3dbl_2', 96, 3, { pad: 1 }), o, 'branch3x3dbl_3', 96, 3, { stride: 2 });
  return concat([b3, bd, reducingPool(x, o)], o.name);
}

/** InceptionC (Mixed_6b–6e), 7×7 factored into 1×7 and 7×1 of width `c7`: N×768×17×17 → N×768×17×17. */
export function inceptionC(x: Sym, o: MixedOptions & { c7: number }): Sym {
  const [c7, row, col] = [o.c7, [1, 7] as const, [7, 1] as const];
  const [padRow, padCol] = [[0, 3] as const, [3, 0] as const];
  const b1 = conv(x, o, 'branch1x1', 192, 1);
  let b7 = conv(x, o, 'branch7x7_1', c7, 1);
  b7 = conv(conv(b7, o, 'branch7x7_2', c7, row, { pad: padRow }), o, 'branch7x7_3', 192, col, { pad: padCol });
  let bd = conv(x, o, 'branch7x7dbl_1', c7, 1);
  bd = conv(bd, o, 'branch7x7dbl_2', c7, col, { pad: padCol });
  bd = conv(bd, o, 'branch7x7dbl_3', c7, row, { pad: padRow });
  bd = conv(bd, o, 'branch7x7dbl_4', c7, col, { pad: padCol });
  bd = conv(bd, o, 'branch7x7dbl_5', 192, row, { pad: padRow });
  return concat([b1, b7, bd, avgPoolBranch(x, o, 192)], o.name);
}

/** InceptionD (Mixed_7a), grid reduction: N×768×17×17 → N×(512 + 768)×8×8. */
export function inceptionD(x: Sym, o: MixedOptions): Sym {
  const b3 = conv(conv(x, o, 'branch3x3_1', 192, 1), o, 'branch3x3_2', 320, 3, { stride: 2 });
  let b7 = conv(x, o, 'branch7x7x3_1', 192, 1);
  b7 = conv(b7, o, 'branch7x7x3_2', 192, [1, 7], { pad: [0, 3] });
  b7 = conv(b7, o, 'branch7x7x3_3', 192, [7, 1], { pad: [3, 0] });
  b7 = conv(b7, o, 'branch7x7x3_4', 192, 3, { stride: 2 });
  return concat([b3, b7, reducingPool(x, o)], o.name);
}

/**
 * InceptionE (Mixed_7b, 7c), branches ending in parallel 1×3 and 3×1 convolutions (torchvision
 * concatenates each pair first; one concatenation of the six is the same tensor):
 * N×C×8×8 → N×(320 + 2·384 + 2·384 + 192)×8×8 = N×2048×8×8.
 */
export function inceptionE(x: Sym, o: MixedOptions): Sym {
  const split = (y: Sym, a: string, b: string): Sym[] => [
    conv(y, o, a, 384, [1, 3], { pad: [0, 1] }),
    conv(y, o, b, 384, [3, 1], { pad: [1, 0] }),
  ];
  const b1 = conv(x, o, 'branch1x1', 320, 1);
  const b3 = split(conv(x, o, 'branch3x3_1', 384, 1), 'branch3x3_2a', 'branch3x3_2b');
  const bd = conv(conv(x, o, 'branch3x3dbl_1', 448, 1), o, 'branch3x3dbl_2', 384, 3, { pad: 1 });
  return concat([b1, ...b3, ...split(bd, 'branch3x3dbl_3a', 'branch3x3dbl_3b'), avgPoolBranch(x, o, 192)], o.name);
}

/** InceptionAux's sizes: conv0 1×1 to 128, conv1 5×5 to 768 (torchvision). */
const INCEPTION_V3_AUX = { conv0: 128, conv1: 768 } as const;

/**
 * Inception v3's auxiliary classifier (torchvision's `InceptionAux`, on Mixed_6e): 5×5/3 average
 * pool → 1×1 conv 128 → 5×5 conv 768 → global average pool → fc. N×768×17×17 → N×numClasses.
 */
export function inceptionV3Aux(x: Sym, o: MixedOptions & { numClasses: number }): Sym {
  // N×768×17×17 → N×768×5×5 → N×128×5×5 → N×768×1×1
  const pooled = avgPool(x, `${o.name}.avg_pool`, { kernel: 5, stride: 3, ceil: false });
  const c = conv(conv(pooled, o, 'conv0', INCEPTION_V3_AUX.conv0, 1), o, 'conv1', INCEPTION_V3_AUX.conv1, 5);
  // N×768×1×1 → N×768 → N×numClasses
  return linear(flatten(adaptiveAvgPool(c, `${o.name}.avgpool`, 1), `${o.name}.flatten`), `${o.name}.fc`, { out: o.numClasses });
}
