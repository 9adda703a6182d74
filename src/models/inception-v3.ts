/**
 * The one architecture table of Inception v3 (Szegedy et al. 2015, "Rethinking the Inception
 * Architecture for Computer Vision", arXiv 1512.00567), as torchvision's `inception_v3` builds it
 * and with its module names, and the function that builds it into a graph. The modules'
 * insides are the blocks of `layers/inception-v3.ts`; this table says which block each stage is
 * and with what arguments, as torchvision's `Inception3.__init__` does.
 */
import { GraphBuilder, type Sym } from '../graph/builder.js';
import type { Graph } from '../graph/ir.js';
import {
  basicConv,
  inceptionA,
  inceptionB,
  inceptionC,
  inceptionD,
  inceptionE,
  inceptionV3Aux,
  maxPool,
  type MixedOptions,
} from '../layers/index.js';
import { scaleChannels } from '../layers/basic.js';
import type { InceptionV3Config } from './config.js';
import { classifierHead, headOutputs, transformInput, type BuildOptions } from './parts.js';

/** A stem layer: a BasicConv2d (out channels, kernel, stride, padding) or a 3×3/2 max pool. */
export type StemLayer = { out: number; kernel: number; stride?: number; pad?: number } | 'maxpool';

/** The stem, 299² → 35² (shapes at 299×299, batch first). */
export const INCEPTION_V3_STEM: ReadonlyArray<readonly [string, StemLayer]> = [
  ['Conv2d_1a_3x3', { out: 32, kernel: 3, stride: 2 }], // N×3×299×299 → N×32×149×149
  ['Conv2d_2a_3x3', { out: 32, kernel: 3 }], // → N×32×147×147
  ['Conv2d_2b_3x3', { out: 64, kernel: 3, pad: 1 }], // → N×64×147×147
  ['maxpool1', 'maxpool'], // → N×64×73×73
  ['Conv2d_3b_1x1', { out: 80, kernel: 1 }], // → N×80×73×73
  ['Conv2d_4a_3x3', { out: 192, kernel: 3 }], // → N×192×71×71
  ['maxpool2', 'maxpool'], // → N×192×35×35
];

/** An Inception module: torchvision's block (InceptionA … InceptionE) and its arguments. */
export type MixedSpec = { block: 'A'; poolFeatures: number } | { block: 'B' } | { block: 'C'; c7: number } | { block: 'D' } | { block: 'E' };

/** The Inception modules (shapes at 299×299). */
export const INCEPTION_V3_TABLE: ReadonlyArray<readonly [string, MixedSpec]> = [
  ['Mixed_5b', { block: 'A', poolFeatures: 32 }], // N×192×35×35 → N×256×35×35
  ['Mixed_5c', { block: 'A', poolFeatures: 64 }], // → N×288×35×35
  ['Mixed_5d', { block: 'A', poolFeatures: 64 }], // → N×288×35×35
  ['Mixed_6a', { block: 'B' }], // → N×768×17×17
  ['Mixed_6b', { block: 'C', c7: 128 }], // → N×768×17×17
  ['Mixed_6c', { block: 'C', c7: 160 }],
  ['Mixed_6d', { block: 'C', c7: 160 }],
  ['Mixed_6e', { block: 'C', c7: 192 }], // → N×768×17×17, and the auxiliary classifier
  ['Mixed_7a', { block: 'D' }], // → N×1280×8×8
  ['Mixed_7b', { block: 'E' }], // → N×2048×8×8
  ['Mixed_7c', { block: 'E' }], // → N×2048×8×8
];

/** The module the auxiliary classifier (`AuxLogits`) reads. */
const INCEPTION_V3_AUX_AFTER = 'Mixed_6e';

/** The stage whose output is the unpooled feature map (`forwardFeatures`): N×2048×8×8 at 299². */
export const INCEPTION_V3_FEATURE_STAGE = 'Mixed_7c';

/** One Inception module of the table. */
function mixed(x: Sym, name: string, m: MixedSpec, width: number): Sym {
  const o: MixedOptions = { name, width };
  switch (m.block) {
    case 'A':
      return inceptionA(x, { ...o, poolFeatures: scaleChannels(m.poolFeatures, width) });
    case 'B':
      return inceptionB(x, o);
    case 'C':
      return inceptionC(x, { ...o, c7: m.c7 });
    case 'D':
      return inceptionD(x, o);
    case 'E':
      return inceptionE(x, o);
  }
}

/**
 * Builds Inception v3 for a resolved config. Outputs: `logits`, and in train mode with
 * `auxLogits` `aux1` (torchvision's `aux_logits`, from `AuxLogits`); without the top, `features`.
 * Taps: every stage by name (`Mixed_7c` is the unpooled feature map), and `avg_pool` (N×2048, Keras' name).
 */
export function buildInceptionV3(cfg: InceptionV3Config, { mode }: BuildOptions): Graph {
  const b = new GraphBuilder();
  let x: Sym = b.input('input', [cfg.inChannels, cfg.inputSize, cfg.inputSize]);
  if (cfg.transformInput) x = transformInput(x);
  for (const [name, layer] of INCEPTION_V3_STEM) {
    const y =
      layer === 'maxpool'
        ? maxPool(x, name, { kernel: 3, stride: 2, ceil: false })
        : basicConv(x, name, { out: scaleChannels(layer.out, cfg.width), kernel: layer.kernel, stride: layer.stride ?? 1, pad: layer.pad ?? 0 });
    x = b.tap(name, y);
  }
  let aux: Sym | undefined;
  for (const [name, m] of INCEPTION_V3_TABLE) {
    x = b.tap(name, mixed(x, name, m, cfg.width));
    // Built where torchvision runs it, so that the state dict and the summary keep its order.
    if (name === INCEPTION_V3_AUX_AFTER && mode === 'train' && cfg.auxLogits)
      aux = inceptionV3Aux(x, { name: 'AuxLogits', numClasses: cfg.numClasses, width: cfg.width });
  }
  headOutputs(b, classifierHead(x, cfg));
  if (aux) b.output('aux1', aux);
  return b.build();
}
