/**
 * The one architecture table of GoogLeNet (the paper's Table 1, torchvision's names) and the
 * function that builds any variant of it into a graph.
 */
import { GraphBuilder, Sym } from '../graph/builder.js';
import type { Graph, Shape } from '../graph/ir.js';
import {
  adaptiveAvgPool,
  basicConv,
  dropout,
  flatten,
  inception,
  inceptionAux,
  type InceptionChannels,
  linear,
  lrn,
  maxPool,
} from '../layers/index.js';
import type { GoogLeNetConfig } from './config.js';

/** Inception modules: paper Table 1 columns #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj. */
export const INCEPTION_TABLE: ReadonlyArray<readonly [string, InceptionChannels]> = [
  ['inception3a', { ch1x1: 64, ch3x3red: 96, ch3x3: 128, ch5x5red: 16, ch5x5: 32, poolProj: 32 }],
  ['inception3b', { ch1x1: 128, ch3x3red: 128, ch3x3: 192, ch5x5red: 32, ch5x5: 96, poolProj: 64 }],
  ['inception4a', { ch1x1: 192, ch3x3red: 96, ch3x3: 208, ch5x5red: 16, ch5x5: 48, poolProj: 64 }],
  ['inception4b', { ch1x1: 160, ch3x3red: 112, ch3x3: 224, ch5x5red: 24, ch5x5: 64, poolProj: 64 }],
  ['inception4c', { ch1x1: 128, ch3x3red: 128, ch3x3: 256, ch5x5red: 24, ch5x5: 64, poolProj: 64 }],
  ['inception4d', { ch1x1: 112, ch3x3red: 144, ch3x3: 288, ch5x5red: 32, ch5x5: 64, poolProj: 64 }],
  ['inception4e', { ch1x1: 256, ch3x3red: 160, ch3x3: 320, ch5x5red: 32, ch5x5: 128, poolProj: 128 }],
  ['inception5a', { ch1x1: 256, ch3x3red: 160, ch3x3: 320, ch5x5red: 32, ch5x5: 128, poolProj: 128 }],
  ['inception5b', { ch1x1: 384, ch3x3red: 192, ch3x3: 384, ch5x5red: 48, ch5x5: 128, poolProj: 128 }],
];

/** Stem channels (Table 1): conv1 7×7/2 → 64, conv2 1×1 → 64 (the 3×3's reduce), conv3 3×3 → 192. */
export const STEM = { conv1: 64, conv2: 64, conv3: 192 } as const;
/** Auxiliary head sizes: 1×1 conv to 128, fc to 1024. */
export const AUX = { conv: 128, hidden: 1024 } as const;

/** Where the stages break: a max pool before these modules, aux heads after these. */
const POOL_BEFORE: Record<string, 'maxpool3' | 'maxpool4'> = { inception4a: 'maxpool3', inception5a: 'maxpool4' };
const AUX_AFTER: Record<string, 'aux1' | 'aux2'> = { inception4a: 'aux1', inception4d: 'aux2' };

/** A channel count under the width multiplier. */
export function scaleChannels(c: number, width: number): number {
  return Math.max(1, Math.round(c * width));
}

export interface BuildOptions {
  /** 'train' builds the auxiliary heads (when `auxLogits`) and keeps dropout; 'eval' never does. */
  mode: 'eval' | 'train';
}

/** The stage whose output is the unpooled feature map (`forwardFeatures`): N×1024×7×7 at 224². */
export const FEATURE_STAGE = 'inception5b';

/**
 * The classifier head, torchvision's `avgpool → flatten → dropout → fc`: the feature map
 * N×C×H×W → `preLogits` N×C (tapped as `pool5`) → `logits` N×numClasses.
 */
function classifierHead(x: Sym, cfg: GoogLeNetConfig): { preLogits: Sym; logits: Sym } {
  // N×1024×7×7 → N×1024×1×1 → N×1024 (global average pooling)
  const preLogits = x.builder.tap('pool5', flatten(adaptiveAvgPool(x, 'avgpool', 1), 'flatten'));
  // N×1024 → N×numClasses
  const logits = linear(dropout(preLogits, 'dropout', cfg.dropout), 'fc', { out: cfg.numClasses });
  return { preLogits, logits };
}

/**
 * The head alone (`forwardHead`), as a graph whose input `features` is the feature map of
 * `featureShape` (per sample, `[C, H, W]`). Outputs: `logits`, and `pool5` (the pre-logits).
 */
export function buildHead(cfg: GoogLeNetConfig, featureShape: Shape): Graph {
  const b = new GraphBuilder();
  const { preLogits, logits } = classifierHead(b.input('features', featureShape), cfg);
  b.output('logits', logits);
  b.output('pool5', preLogits);
  return b.build();
}

/**
 * Builds the network for a resolved config. Outputs: `logits`, and in train mode with aux heads
 * `aux1`, `aux2`. Taps: every stage by name (`inception5b` is the unpooled feature map), plus
 * `pool5` (the N×1024 pooled features).
 */
export function buildGoogLeNet(cfg: GoogLeNetConfig, { mode }: BuildOptions): Graph {
  const b = new GraphBuilder();
  const w = (c: number): number => scaleChannels(c, cfg.width);
  const norm = cfg.norm;
  let x: Sym = b.input('input', [cfg.inChannels, cfg.inputSize, cfg.inputSize]);

  if (cfg.transformInput) {
    // torchvision: x_c · (std_c / 0.5) + (mean_c − 0.5) / 0.5, undoing ImageNet normalization into [-1, 1]
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    x = b.add('transform_input', { op: 'affine', input: x.id, scale: std.map((s) => s / 0.5), shift: mean.map((m) => (m - 0.5) / 0.5) });
  }

  if (cfg.stem === 'imagenet') {
    // N×3×224×224 → N×64×112×112 → N×64×56×56
    x = b.tap('conv1', basicConv(x, 'conv1', { out: w(STEM.conv1), kernel: 7, stride: 2, pad: 3, norm }));
    x = b.tap('maxpool1', maxPool(x, 'maxpool1', { kernel: 3, stride: 2 }));
    if (cfg.lrn) x = lrn(x, 'lrn1');
    // N×64×56×56 → N×64×56×56 → N×192×56×56 → N×192×28×28
    x = b.tap('conv2', basicConv(x, 'conv2', { out: w(STEM.conv2), kernel: 1, norm }));
    x = b.tap('conv3', basicConv(x, 'conv3', { out: w(STEM.conv3), kernel: 3, pad: 1, norm }));
    if (cfg.lrn) x = lrn(x, 'lrn2');
    x = b.tap('maxpool2', maxPool(x, 'maxpool2', { kernel: 3, stride: 2 }));
  } else {
    // CIFAR stem: N×C×32×32 → N×192×32×32, no early downsampling
    x = b.tap('conv1', basicConv(x, 'conv1', { out: w(STEM.conv3), kernel: 3, pad: 1, norm }));
  }

  const heads: { name: 'aux1' | 'aux2'; at: Sym }[] = [];
  for (const [name, ch] of INCEPTION_TABLE) {
    const pool = POOL_BEFORE[name];
    if (pool) {
      // maxpool3: N×480×28×28 → N×480×14×14; maxpool4: N×832×14×14 → N×832×7×7
      const k = pool === 'maxpool4' ? cfg.pool4Kernel : 3;
      x = b.tap(pool, maxPool(x, pool, { kernel: k, stride: 2 }));
    }
    x = b.tap(
      name,
      inception(x, {
        name,
        ch1x1: w(ch.ch1x1),
        ch3x3red: w(ch.ch3x3red),
        ch3x3: w(ch.ch3x3),
        ch5x5red: w(ch.ch5x5red),
        ch5x5: w(ch.ch5x5),
        poolProj: w(ch.poolProj),
        kernel5: cfg.kernel5,
        norm,
      }),
    );
    const aux = AUX_AFTER[name];
    if (aux) heads.push({ name: aux, at: x });
  }

  b.output('logits', classifierHead(x, cfg).logits);

  if (mode === 'train' && cfg.auxLogits) {
    for (const h of heads) {
      // aux1: N×512×14×14, aux2: N×528×14×14 → N×numClasses
      b.output(
        h.name,
        inceptionAux(h.at, {
          name: h.name,
          numClasses: cfg.numClasses,
          pool: cfg.auxPool,
          convChannels: w(AUX.conv),
          hidden: w(AUX.hidden),
          dropout: cfg.auxDropout,
          norm,
        }),
      );
    }
  }
  return b.build();
}
