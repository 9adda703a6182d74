/**
 * GoogLeNet's options and presets. A preset is a set of defaults over one architecture table
 * (`spec.ts`); every field can be overridden.
 */
import { describeValue, OptionError } from '../errors.js';
import { getLimits, raiseHint } from '../limits.js';

export const PRESETS = ['paper', 'bn', 'torchvision', 'cifar'] as const;
export type Preset = (typeof PRESETS)[number];

export interface GoogLeNetOptions {
  /** Which defaults to start from. Default 'torchvision'. */
  preset?: Preset;
  /** Classes of the main and auxiliary heads. Default 1000. */
  numClasses?: number;
  /** Build the two auxiliary classifiers (computed in training mode only). Default false. */
  auxLogits?: boolean;
  /** Input channels: 3 (RGB) or 1 (greyscale). Default 3. */
  inChannels?: number;
  /** Width multiplier on every hidden channel count (the PyTorch tutorial's `base_dim` idea). Default 1. */
  width?: number;
  /** Dropout before the final fc. Default 0.4 (paper, bn, cifar) or 0.2 (torchvision). */
  dropout?: number;
  /** Dropout after the auxiliary fc1. Default 0.7. */
  auxDropout?: number;
  /** Expected square input size. Default 224 (32 for cifar). */
  inputSize?: number;
  /** torchvision's `transform_input`: re-normalize ImageNet-normalized input to (x − 0.5)/0.5. Default false. */
  transformInput?: boolean;
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

export type GoogLeNetConfig = Required<GoogLeNetOptions>;

const COMMON = { numClasses: 1000, auxLogits: false, inChannels: 3, width: 1, auxDropout: 0.7, transformInput: false } as const;

/** Every preset's full defaults: one constant, one place. */
export const DEFAULTS: Record<Preset, GoogLeNetConfig> = {
  paper: { ...COMMON, preset: 'paper', dropout: 0.4, inputSize: 224, norm: 'none', lrn: true, kernel5: 5, pool4Kernel: 3, auxPool: 'fixed', stem: 'imagenet' },
  bn: { ...COMMON, preset: 'bn', dropout: 0.4, inputSize: 224, norm: 'batchnorm', lrn: false, kernel5: 5, pool4Kernel: 3, auxPool: 'fixed', stem: 'imagenet' },
  torchvision: { ...COMMON, preset: 'torchvision', dropout: 0.2, inputSize: 224, norm: 'batchnorm', lrn: false, kernel5: 3, pool4Kernel: 2, auxPool: 'adaptive', stem: 'imagenet' },
  cifar: { ...COMMON, preset: 'cifar', dropout: 0.4, inputSize: 32, norm: 'batchnorm', lrn: false, kernel5: 5, pool4Kernel: 3, auxPool: 'adaptive', stem: 'cifar' },
};

function check(ok: boolean, option: string, expected: string, got: unknown): void {
  if (!ok) throw new OptionError(`${option}: expected ${expected}, received ${JSON.stringify(got)}`, { option });
}

/** Fills defaults from the preset and validates every field; messages name the option and the value. */
export function resolveConfig(options: GoogLeNetOptions = {}): GoogLeNetConfig {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new OptionError(`options: expected an object of GoogLeNet options, received ${describeValue(options)}`, { option: 'options' });
  }
  const preset = options.preset ?? 'torchvision';
  check((PRESETS as readonly string[]).includes(preset), 'preset', `one of ${PRESETS.join(', ')}`, preset);
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const known = new Set(Object.keys(DEFAULTS.torchvision));
  for (const k of Object.keys(defined)) check(known.has(k), k, `a known option (${[...known].join(', ')})`, k);
  const c: GoogLeNetConfig = { ...DEFAULTS[preset], ...defined } as GoogLeNetConfig;
  check(Number.isInteger(c.numClasses) && c.numClasses >= 1, 'numClasses', 'a positive integer', c.numClasses);
  // Checked before any allocation: the classifier holds 1024 × numClasses weights.
  if (c.numClasses > getLimits().maxNumClasses)
    throw new OptionError(`numClasses: ${c.numClasses} classes is more than ${raiseHint('maxNumClasses')}`, { option: 'numClasses' });
  check(c.inChannels === 1 || c.inChannels === 3, 'inChannels', '1 or 3', c.inChannels);
  check(Number.isFinite(c.width) && c.width > 0 && c.width <= 4, 'width', 'a number in (0, 4]', c.width);
  check(typeof c.dropout === 'number' && c.dropout >= 0 && c.dropout < 1, 'dropout', 'a probability in [0, 1)', c.dropout);
  check(typeof c.auxDropout === 'number' && c.auxDropout >= 0 && c.auxDropout < 1, 'auxDropout', 'a probability in [0, 1)', c.auxDropout);
  check(Number.isInteger(c.inputSize) && c.inputSize >= 8 && c.inputSize <= 4096, 'inputSize', 'an integer in [8, 4096]', c.inputSize);
  check(c.norm === 'batchnorm' || c.norm === 'none', 'norm', "'batchnorm' or 'none'", c.norm);
  check(c.kernel5 === 3 || c.kernel5 === 5, 'kernel5', '3 or 5', c.kernel5);
  check(c.pool4Kernel === 2 || c.pool4Kernel === 3, 'pool4Kernel', '2 or 3', c.pool4Kernel);
  check(c.auxPool === 'fixed' || c.auxPool === 'adaptive', 'auxPool', "'fixed' or 'adaptive'", c.auxPool);
  check(c.stem === 'imagenet' || c.stem === 'cifar', 'stem', "'imagenet' or 'cifar'", c.stem);
  check(typeof c.auxLogits === 'boolean', 'auxLogits', 'a boolean', c.auxLogits);
  check(typeof c.lrn === 'boolean', 'lrn', 'a boolean', c.lrn);
  check(typeof c.transformInput === 'boolean', 'transformInput', 'a boolean', c.transformInput);
  check(!c.transformInput || c.inChannels === 3, 'transformInput', 'inChannels 3 (it re-normalizes RGB)', c.transformInput);
  return c;
}
