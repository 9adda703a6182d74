/**
 * The model's options: which architecture (`arch`), and per architecture its defaults. GoogLeNet
 * (Inception v1) has presets, sets of defaults over one architecture table (`googlenet.ts`);
 * Inception v3 has torchvision's one configuration (`inception-v3.ts`). Every field can be
 * overridden; Keras' `include_top`, `pooling` and `classes` are `includeTop`, `pooling` and
 * `numClasses` for both.
 */
import { describeValue, OptionError } from '../errors.js';
import { getLimits, raiseHint } from '../limits.js';

/** The architectures, by torchvision's model names. */
export const ARCHS = ['googlenet', 'inception_v3'] as const;
export type Arch = (typeof ARCHS)[number];

export const PRESETS = ['paper', 'bn', 'torchvision', 'cifar'] as const;
export type Preset = (typeof PRESETS)[number];

/** How a model without its top (`includeTop: false`) pools the feature map: Keras' `pooling` ('none' is its `None`). */
export const POOLINGS = ['avg', 'max', 'none'] as const;
export type Pooling = (typeof POOLINGS)[number];

/** Options every architecture takes. */
interface CommonOptions {
  /** Classes of the main and auxiliary heads (Keras' `classes`). Default 1000. */
  numClasses?: number;
  /** Build the auxiliary classifier(s) (computed in training mode only). Default false. */
  auxLogits?: boolean;
  /** Input channels: 3 (RGB) or 1 (greyscale). Default 3. */
  inChannels?: number;
  /** Width multiplier on every hidden channel count (the PyTorch tutorial's `base_dim` idea). Default 1. */
  width?: number;
  /** Dropout before the final fc. Default 0.4 (GoogLeNet's paper, bn, cifar), 0.2 (GoogLeNet torchvision), 0.5 (Inception v3). */
  dropout?: number;
  /** Expected square input size. Default 224 (GoogLeNet; 32 for cifar), 299 (Inception v3). */
  inputSize?: number;
  /** torchvision's `transform_input`: re-normalize ImageNet-normalized input to (x − 0.5)/0.5. Default false. */
  transformInput?: boolean;
  /**
   * Keras' `include_top`: false builds the network without its classifier (no fc, no aux heads);
   * `features(x)` is then what it computes. Default true.
   */
  includeTop?: boolean;
  /**
   * Keras' `pooling`, for a model without its top: 'avg' (global average, N×C), 'max' (global
   * maximum, N×C) or 'none' (the unpooled N×C×H×W feature map). Default 'none' (Keras' `None`).
   */
  pooling?: Pooling;
}

/** GoogLeNet (Inception v1, Szegedy et al. 2014): a preset and its variants. */
export interface GoogLeNetOptions extends CommonOptions {
  /** Default 'googlenet'. */
  arch?: 'googlenet';
  /** Which defaults to start from. Default 'torchvision'. */
  preset?: Preset;
  /** Dropout after the auxiliary fc1. Default 0.7. */
  auxDropout?: number;
  /** 'batchnorm' (bias-free convs + BN eps 1e-3) or 'none' (conv bias). Default: per preset. */
  norm?: 'batchnorm' | 'none';
  /** Local response normalization after pool1 and after conv3 (paper). Default: per preset. */
  lrn?: boolean;
  /** Kernel of the "5×5" branch: 5, or 3 as torchvision (pytorch/vision#906). Default: per preset. */
  kernel5?: 3 | 5;
  /** Kernel of the max pool before inception5a: 3 (3×3/2) or 2 (2×2/2, torchvision). Default: per preset. */
  pool4Kernel?: 2 | 3;
  /** Auxiliary head pooling: 'fixed' 5×5/3 (paper) or 'adaptive' to 4×4 (torchvision). Default: per preset. */
  auxPool?: 'fixed' | 'adaptive';
  /** 'imagenet': 7×7/2 conv, pools, 1×1 and 3×3 convs (Table 1); 'cifar': one 3×3 conv to 192, no downsampling. */
  stem?: 'imagenet' | 'cifar';
}

/** Inception v3 (Szegedy et al. 2015, "Rethinking the Inception Architecture"), as torchvision's `inception_v3`. */
export interface InceptionV3Options extends CommonOptions {
  arch: 'inception_v3';
}

/** The options of either architecture (`arch` picks; GoogLeNet's when it is absent). */
export type ModelOptions = GoogLeNetOptions | InceptionV3Options;

export type GoogLeNetConfig = Required<GoogLeNetOptions>;
export type InceptionV3Config = Required<InceptionV3Options>;
/** A resolved configuration: every field of its architecture filled in. */
export type ModelConfig = GoogLeNetConfig | InceptionV3Config;

const COMMON = {
  numClasses: 1000,
  auxLogits: false,
  inChannels: 3,
  width: 1,
  transformInput: false,
  includeTop: true,
  pooling: 'none',
} as const;
const GOOGLENET = { ...COMMON, arch: 'googlenet', auxDropout: 0.7 } as const;

/** Every GoogLeNet preset's full defaults: one constant, one place. */
export const DEFAULTS: Record<Preset, GoogLeNetConfig> = {
  paper: { ...GOOGLENET, preset: 'paper', dropout: 0.4, inputSize: 224, norm: 'none', lrn: true, kernel5: 5, pool4Kernel: 3, auxPool: 'fixed', stem: 'imagenet' },
  bn: { ...GOOGLENET, preset: 'bn', dropout: 0.4, inputSize: 224, norm: 'batchnorm', lrn: false, kernel5: 5, pool4Kernel: 3, auxPool: 'fixed', stem: 'imagenet' },
  torchvision: { ...GOOGLENET, preset: 'torchvision', dropout: 0.2, inputSize: 224, norm: 'batchnorm', lrn: false, kernel5: 3, pool4Kernel: 2, auxPool: 'adaptive', stem: 'imagenet' },
  cifar: { ...GOOGLENET, preset: 'cifar', dropout: 0.4, inputSize: 32, norm: 'batchnorm', lrn: false, kernel5: 5, pool4Kernel: 3, auxPool: 'adaptive', stem: 'cifar' },
};

/** Inception v3's defaults: torchvision's `Inception3` (dropout 0.5, 299×299 inputs). */
export const INCEPTION_V3_DEFAULTS: InceptionV3Config = { ...COMMON, arch: 'inception_v3', dropout: 0.5, inputSize: 299 };

/**
 * The smallest inputs Inception v3 takes: 75×75 (torchvision's `min_size`), and 299×299 with the
 * auxiliary classifier, whose 5×5/3 pool and 5×5 conv need Mixed_6e's 17×17 map.
 */
const INCEPTION_V3_MIN_INPUT = { plain: 75, aux: 299 } as const;

function check(ok: boolean, option: string, expected: string, got: unknown): void {
  if (!ok) throw new OptionError(`${option}: expected ${expected}, received ${JSON.stringify(got)}`, { option });
}

/** The options given (undefined ones dropped), each checked to be an option of `known`'s architecture. */
function givenOptions(options: object, known: object, arch: Arch): Record<string, unknown> {
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const keys = new Set(Object.keys(known));
  for (const k of Object.keys(defined)) check(keys.has(k), k, `a known option of ${arch} (${[...keys].join(', ')})`, k);
  return defined;
}

/** Checks the options both architectures share. */
function checkCommon(c: ModelConfig): void {
  check(Number.isInteger(c.numClasses) && c.numClasses >= 1, 'numClasses', 'a positive integer', c.numClasses);
  // Checked before any allocation: the classifier holds channels × numClasses weights.
  if (c.numClasses > getLimits().maxNumClasses)
    throw new OptionError(`numClasses: ${c.numClasses} classes is more than ${raiseHint('maxNumClasses')}`, { option: 'numClasses' });
  check(c.inChannels === 1 || c.inChannels === 3, 'inChannels', '1 or 3', c.inChannels);
  check(Number.isFinite(c.width) && c.width > 0 && c.width <= 4, 'width', 'a number in (0, 4]', c.width);
  check(typeof c.dropout === 'number' && c.dropout >= 0 && c.dropout < 1, 'dropout', 'a probability in [0, 1)', c.dropout);
  check(Number.isInteger(c.inputSize) && c.inputSize >= 8 && c.inputSize <= 4096, 'inputSize', 'an integer in [8, 4096]', c.inputSize);
  check(typeof c.auxLogits === 'boolean', 'auxLogits', 'a boolean', c.auxLogits);
  check(typeof c.transformInput === 'boolean', 'transformInput', 'a boolean', c.transformInput);
  check(!c.transformInput || c.inChannels === 3, 'transformInput', 'inChannels 3 (it re-normalizes RGB)', c.transformInput);
  check(typeof c.includeTop === 'boolean', 'includeTop', 'a boolean', c.includeTop);
  check((POOLINGS as readonly string[]).includes(c.pooling), 'pooling', `one of ${POOLINGS.join(', ')}`, c.pooling);
  check(c.includeTop || !c.auxLogits, 'auxLogits', 'false without the top (includeTop: false has no classifiers)', c.auxLogits);
  // Keras ignores `pooling` when the top is included; here the top always average-pools, so a
  // pooling given with it is a mistake said out loud.
  check(!c.includeTop || c.pooling === 'none', 'pooling', "'none' with the top (pooling is for includeTop: false; the classifier average-pools)", c.pooling);
}

function resolveGoogLeNet(options: GoogLeNetOptions): GoogLeNetConfig {
  const preset = options.preset ?? 'torchvision';
  check((PRESETS as readonly string[]).includes(preset), 'preset', `one of ${PRESETS.join(', ')}`, preset);
  const c = { ...DEFAULTS[preset], ...givenOptions(options, DEFAULTS.torchvision, 'googlenet') } as GoogLeNetConfig;
  checkCommon(c);
  check(typeof c.auxDropout === 'number' && c.auxDropout >= 0 && c.auxDropout < 1, 'auxDropout', 'a probability in [0, 1)', c.auxDropout);
  check(c.norm === 'batchnorm' || c.norm === 'none', 'norm', "'batchnorm' or 'none'", c.norm);
  check(c.kernel5 === 3 || c.kernel5 === 5, 'kernel5', '3 or 5', c.kernel5);
  check(c.pool4Kernel === 2 || c.pool4Kernel === 3, 'pool4Kernel', '2 or 3', c.pool4Kernel);
  check(c.auxPool === 'fixed' || c.auxPool === 'adaptive', 'auxPool', "'fixed' or 'adaptive'", c.auxPool);
  check(c.stem === 'imagenet' || c.stem === 'cifar', 'stem', "'imagenet' or 'cifar'", c.stem);
  check(typeof c.lrn === 'boolean', 'lrn', 'a boolean', c.lrn);
  return c;
}

function resolveInceptionV3(options: InceptionV3Options): InceptionV3Config {
  const c = { ...INCEPTION_V3_DEFAULTS, ...givenOptions(options, INCEPTION_V3_DEFAULTS, 'inception_v3') } as InceptionV3Config;
  checkCommon(c);
  const min = c.auxLogits ? INCEPTION_V3_MIN_INPUT.aux : INCEPTION_V3_MIN_INPUT.plain;
  const why = c.auxLogits ? ' with auxLogits (the aux head needs a 17×17 Mixed_6e map)' : '';
  check(c.inputSize >= min, 'inputSize', `at least ${min} for inception_v3${why}`, c.inputSize);
  return c;
}

/** Fills defaults from the architecture (and GoogLeNet's preset) and validates every field; messages name the option and the value. */
export function resolveConfig(options: InceptionV3Options): InceptionV3Config;
export function resolveConfig(options?: GoogLeNetOptions): GoogLeNetConfig;
export function resolveConfig(options?: ModelOptions): ModelConfig;
export function resolveConfig(options: ModelOptions = {}): ModelConfig {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new OptionError(`options: expected an object of model options, received ${describeValue(options)}`, { option: 'options' });
  }
  const arch = options.arch ?? 'googlenet';
  check((ARCHS as readonly string[]).includes(arch), 'arch', `one of ${ARCHS.join(', ')}`, arch);
  return arch === 'inception_v3' ? resolveInceptionV3(options as InceptionV3Options) : resolveGoogLeNet(options as GoogLeNetOptions);
}

/** How messages name a configuration's network: "preset torchvision" (GoogLeNet) or "inception_v3". */
export function archLabel(c: ModelConfig): string {
  return c.arch === 'googlenet' ? `preset ${c.preset}` : c.arch;
}

/** The architecture's name for people: "GoogLeNet (torchvision preset)", "Inception v3". */
export function describeArch(c: ModelConfig): string {
  return c.arch === 'inception_v3' ? 'Inception v3' : `GoogLeNet (${c.preset} preset)`;
}
