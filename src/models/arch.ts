/**
 * The architectures, one entry each: how to build the graph, where the feature map is, which
 * parameters are the classifier and the auxiliary heads, how weights start, and the recipe
 * figures that differ (the auxiliary loss weight). Everything that asks "which network is this?"
 * asks here, so that a third architecture is one more entry.
 */
import type { Graph, ParamSpec } from '../graph/ir.js';
import { numel } from '../tensor.js';
import type { Arch, GoogLeNetConfig, InceptionV3Config, ModelConfig, ModelOptions } from './config.js';
import { buildGoogLeNet, FEATURE_STAGE } from './googlenet.js';
import { buildInceptionV3, INCEPTION_V3_FEATURE_STAGE } from './inception-v3.js';
import type { BuildOptions } from './parts.js';

export interface Architecture {
  /** The name users type (`--arch`), torchvision's model name. */
  arch: Arch;
  /** The name for people. */
  title: string;
  /** Builds the graph of a resolved config of this architecture. */
  build(cfg: ModelConfig, o: BuildOptions): Graph;
  /** The stage whose output is the unpooled feature map (`forwardFeatures`). */
  featureStage: string;
  /** The classifier layers `resetClassifier` draws afresh (the last layer of every head). */
  classifier: RegExp;
  /** What a frozen-backbone run trains: the classifier and the whole auxiliary heads. */
  heads: RegExp;
  /** The auxiliary heads' parameters (a state dict's are ignored when `auxLogits` is off). */
  aux: RegExp;
  /** Standard deviation of the (truncated) normal a convolution or linear weight starts from. */
  initStd(p: ParamSpec, cfg: ModelConfig): number;
  /** Weight of each auxiliary head's loss in training, and where that figure comes from. */
  auxWeight: { value: number; source: string };
  /** A state-dict key every model of this architecture has, and no other architecture's (its first convolution). */
  marker: string;
}

const GOOGLENET: Architecture = {
  arch: 'googlenet',
  title: 'GoogLeNet (Inception v1)',
  build: (cfg, o) => buildGoogLeNet(cfg as GoogLeNetConfig, o),
  featureStage: FEATURE_STAGE,
  classifier: /^(fc|aux[12]\.fc2)\./,
  heads: /^(fc|aux1|aux2)\./,
  aux: /^aux[12]\./,
  // torchvision's N(0, 0.01²); without batch norm (the paper preset) He initialization, so that 22 layers train.
  initStd: (p, cfg) => ((cfg as GoogLeNetConfig).norm === 'none' && p.role === 'conv.weight' ? Math.sqrt(2 / numel(p.shape.slice(1))) : 0.01),
  auxWeight: { value: 0.3, source: 'the GoogLeNet paper, section 5: "weighted by 0.3"' },
  marker: 'conv1.conv.weight',
};

const INCEPTION_V3: Architecture = {
  arch: 'inception_v3',
  title: 'Inception v3',
  build: (cfg, o) => buildInceptionV3(cfg as InceptionV3Config, o),
  featureStage: INCEPTION_V3_FEATURE_STAGE,
  classifier: /^(fc|AuxLogits\.fc)\./,
  heads: /^(fc|AuxLogits)\./,
  aux: /^AuxLogits\./,
  // torchvision's `Inception3` init: N(0, 0.1²), the aux head's conv1 N(0, 0.01²) and fc N(0, 0.001²).
  initStd: (p) => (p.name.startsWith('AuxLogits.conv1.') ? 0.01 : p.name.startsWith('AuxLogits.fc.') ? 0.001 : 0.1),
  auxWeight: {
    value: 0.4,
    source: "TF-slim's train_image_classifier.py, which trained Google's Inception v3 (AuxLogits loss weights=0.4)",
  },
  marker: 'Conv2d_1a_3x3.conv.weight',
};

/** Every architecture, by name. */
export const ARCHITECTURES: Readonly<Record<Arch, Architecture>> = Object.freeze({ googlenet: GOOGLENET, inception_v3: INCEPTION_V3 });

/** The entry of a config's architecture. */
export function architectureOf(cfg: { arch: Arch }): Architecture {
  return ARCHITECTURES[cfg.arch];
}

/** The architecture a torchvision state dict is of, by its keys (undefined when it is of none). */
export function archOfStateDict(keys: Iterable<string>): Arch | undefined {
  const have = new Set(keys);
  return Object.values(ARCHITECTURES).find((a) => have.has(a.marker))?.arch;
}

/** `options` with the architecture of a state dict's `keys` filled in, when the options name none. */
export function withArchOf(options: ModelOptions, keys: Iterable<string>): ModelOptions {
  if (options.arch !== undefined) return options;
  return archOfStateDict(keys) === 'inception_v3' ? ({ ...options, arch: 'inception_v3' } as ModelOptions) : options;
}

/** Builds the graph of any resolved config. */
export function buildNetwork(cfg: ModelConfig, o: BuildOptions): Graph {
  return architectureOf(cfg).build(cfg, o);
}
