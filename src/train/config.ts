/**
 * The trainer's options (what a user sets; every field optional but the dataset and the output
 * folder) and the resolved config (every field filled in, JSON, stored in each checkpoint so
 * that `--resume` needs no other flags).
 *
 * The dataset decides the number of classes, the input channels, the input size (fixed-size
 * datasets: their image size) and the normalization unless they are set explicitly; `--from`
 * decides the architecture and the normalization (the pretrained model's).
 */
import { parseDevice, type Device } from '../runtime/device.js';
import { DATASET_NAMES, type DatasetInfo, type DatasetName } from '../data/core.js';
import type { TransformConfig } from '../data/transforms.js';
import { OptionError } from '../errors.js';
import { ARCHS, PRESETS, type Arch, type ModelConfig, type Preset } from '../models/config.js';
import { SCHEDULES, type ScheduleType } from './schedule.js';

export const OPTIMIZERS = ['adam', 'adamw', 'sgd'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];
export const KEEP = ['best', 'last'] as const;

/** What `googlenet train` (or a script) asks for. Defaults in brackets. */
export interface TrainOptions {
  /** Dataset name (`--dataset`). */
  dataset: DatasetName;
  /** Its folder (`--data`); not needed for fashion-mnist (Debian's folder) and fashion-mnist-subset. */
  data?: string;
  /** Image folders: a separate validation folder. */
  valData?: string;
  /** The run folder: checkpoint, metrics, plots, and the model itself (config.json + model.safetensors). */
  out: string;
  /** Continue the run in `out` from its checkpoint. [false] */
  resume?: boolean;

  /** Architecture of a fresh model: 'googlenet' or 'inception_v3'. ['googlenet'] */
  arch?: Arch;
  /** GoogLeNet's preset. ['cifar'] */
  preset?: Preset;
  /** Width multiplier. [1] */
  width?: number;
  /** Train the auxiliary heads too (loss + auxWeight·(aux1 + aux2); Inception v3 has aux1 only). [false] */
  aux?: boolean;
  /** Overrides of what the dataset decides. */
  numClasses?: number;
  /** Must equal the dataset's channels (or the `from` model's): a mismatch is an OptionError. [the dataset's] */
  inChannels?: 1 | 3;
  inputSize?: number;
  /** Dropout before the classifier. [the preset's] */
  dropout?: number;

  /**
   * Start from this model: a model directory, torchvision weights (.pth/.safetensors, with
   * `fromPreset`), an http(s) URL or a registry name such as `'imagenet'` (downloaded and cached;
   * its options are the defaults of the three below).
   */
  from?: string;
  /** Architecture of a `from` weight file. [the named weights', else 'googlenet'] */
  fromArch?: Arch;
  /** GoogLeNet preset of a `from` weight file. [the named weights', else 'torchvision'] */
  fromPreset?: Preset;
  /** Classes of a `from` weight file. [the named weights', else 1000] */
  fromNumClasses?: number;
  /** A `from` weight file uses torchvision's `transform_input` (its official ImageNet weights do). [the named weights', else false] */
  fromTransformInput?: boolean;
  /** Train only the classifier head(s) (`fc`, and the aux heads when on). [false] */
  freezeBackbone?: boolean;

  /** Passes over the training set. [10] */
  epochs?: number;
  /** Images per step (the PyTorch CIFAR-10 tutorial: 100). [100] */
  batchSize?: number;
  /** Peak learning rate. [2e-4 for adam/adamw (the PyTorch CIFAR-10 tutorial's Adam recipe), 0.01 for sgd] */
  lr?: number;
  /** ['adam'] */
  optimizer?: OptimizerName;
  /** SGD momentum. [0.9 (paper)] */
  momentum?: number;
  /** Nesterov momentum (SGD). [false] */
  nesterov?: boolean;
  /** L2 weight decay (decoupled for adamw). [0 for adam, 0.01 for adamw, 5e-4 for sgd] */
  weightDecay?: number;
  /** ['constant'] */
  schedule?: ScheduleType;
  /** Linear warm-up epochs. [0] */
  warmupEpochs?: number;
  /** Step schedule: factor and period. [0.96 every 8 epochs (paper)] */
  gamma?: number;
  decayEvery?: number;
  /** Cosine schedule: final learning rate. [0] */
  minLr?: number;
  /** Weight of each aux head's loss. [the architecture's: 0.3 for GoogLeNet (its paper), 0.4 for Inception v3 (TF-slim's recipe)] */
  auxWeight?: number;
  /** [0] */
  labelSmoothing?: number;
  /** Clip the global gradient norm. [off] */
  clipGradNorm?: number;
  /** Polyak averaging decay per step, e.g. 0.999. [off] */
  ema?: number;
  /** Fold the weights into the average every k steps (reading them out costs a copy). [1] */
  emaEvery?: number;

  /** Train: zero padding of the random crop. [2 at ≤ 28 px, 4 at 32 px, 0 with the Inception crop] */
  padding?: number;
  /** Train: random horizontal flips. [true] */
  flip?: boolean;
  /** Train: the Inception crop (8%–100% of the area). [true for image folders, else false] */
  inceptionCrop?: boolean;
  /** Train: photometric distortion. [false] */
  photometric?: boolean;

  /** Train on a seeded random subset of N images. [all] */
  limitTrain?: number;
  /** Validate on the first N test images. [all] */
  limitTest?: number;
  /** Hold out N (seeded) training images as the validation set instead of the test split. [0: use the test split] */
  valHoldout?: number;
  /** What the run folder's model is: the best by validation top-1, or the last. ['best'] */
  keep?: 'best' | 'last';
  /** Seed of initialization, data order, augmentation and dropout. [0] */
  seed?: number;
  /** Loader worker threads. [1] */
  workers?: number;
  /** ONNX Runtime intra-op threads. [all cores] */
  threads?: number;
  /**
   * Where the steps run: 'cpu', 'webgpu', 'cuda' or 'auto' (`runtime/device.ts`). Not part of
   * the run: a resumed run may change it. ['cpu' in Node]
   */
  device?: Device;
  /** A step line in metrics.jsonl (and a plain progress line) every N steps. [about 20 per epoch] */
  logEvery?: number;
  /** Stop after N steps of this invocation (tests, benchmarks), checkpointing like an interrupt. [off] */
  maxSteps?: number;
}

/** Everything a run needs, resolved (stored in every checkpoint). */
export interface TrainConfig {
  version: 1;
  dataset: {
    name: DatasetName;
    data: string | null;
    valData: string | null;
    /** The training dataset's metadata (classes, channels, size, statistics). */
    info: DatasetInfo;
    limitTrain: number | null;
    limitTest: number | null;
    valHoldout: number;
    trainSize: number;
    valSize: number;
  };
  model: ModelConfig;
  /** Where a fine-tuned run started (provenance); `preset` applies to GoogLeNet only. */
  from: { path: string; arch: Arch; preset: Preset; numClasses: number; transformInput: boolean } | null;
  freezeBackbone: boolean;
  optimizer:
    | { type: 'adam' | 'adamw'; lr: number; weightDecay: number }
    | { type: 'sgd'; lr: number; momentum: number; weightDecay: number; nesterov: boolean };
  schedule: { type: ScheduleType; warmupEpochs: number; gamma: number; decayEvery: number; minLr: number };
  auxWeight: number;
  labelSmoothing: number;
  clipGradNorm: number | null;
  ema: { decay: number; every: number } | null;
  epochs: number;
  batchSize: number;
  stepsPerEpoch: number;
  seed: number;
  keep: 'best' | 'last';
  transform: { train: TransformConfig; eval: TransformConfig };
  workers: number;
  threads: number | null;
  logEvery: number;
}

function fail(option: string, expected: string, got: unknown): never {
  throw new OptionError(`${option}: expected ${expected}, received ${JSON.stringify(got)}`);
}

const int = (v: unknown, min: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min;
const num = (v: unknown, lo: number, hi = Infinity, openLo = false): boolean =>
  typeof v === 'number' && Number.isFinite(v) && (openLo ? v > lo : v >= lo) && v <= hi;

/**
 * Validates user options (each message names the flag and the value received).
 * @throws OptionError
 */
export function validateTrainOptions(o: TrainOptions): void {
  if (!(DATASET_NAMES as readonly string[]).includes(o.dataset)) fail('--dataset', `one of ${DATASET_NAMES.join(', ')}`, o.dataset);
  if (typeof o.out !== 'string' || !o.out) fail('--out', 'a folder for the run', o.out);
  if (o.arch !== undefined && !(ARCHS as readonly string[]).includes(o.arch)) fail('--arch', `one of ${ARCHS.join(', ')}`, o.arch);
  if (o.fromArch !== undefined && !(ARCHS as readonly string[]).includes(o.fromArch))
    fail('--from-arch', `one of ${ARCHS.join(', ')}`, o.fromArch);
  if (o.preset !== undefined && o.arch === 'inception_v3')
    fail('--preset', "no preset with --arch inception_v3 (presets are GoogLeNet's)", o.preset);
  if (o.preset !== undefined && !(PRESETS as readonly string[]).includes(o.preset))
    fail('--preset', `one of ${PRESETS.join(', ')}`, o.preset);
  if (o.fromPreset !== undefined && !(PRESETS as readonly string[]).includes(o.fromPreset))
    fail('--from-preset', `one of ${PRESETS.join(', ')}`, o.fromPreset);
  if (o.optimizer !== undefined && !(OPTIMIZERS as readonly string[]).includes(o.optimizer))
    fail('--optimizer', `one of ${OPTIMIZERS.join(', ')}`, o.optimizer);
  if (o.schedule !== undefined && !(SCHEDULES as readonly string[]).includes(o.schedule))
    fail('--schedule', `one of ${SCHEDULES.join(', ')}`, o.schedule);
  if (o.keep !== undefined && !(KEEP as readonly string[]).includes(o.keep)) fail('--keep', `one of ${KEEP.join(', ')}`, o.keep);
  const checks: [keyof TrainOptions, string, (v: unknown) => boolean, string][] = [
    ['epochs', '--epochs', (v) => int(v, 1), 'a positive integer'],
    ['batchSize', '--batch-size', (v) => int(v, 1), 'a positive integer'],
    ['lr', '--lr', (v) => num(v, 0, Infinity, true), 'a positive number'],
    ['width', '--width', (v) => num(v, 0, 4, true), 'a number in (0, 4]'],
    ['numClasses', '--num-classes', (v) => int(v, 1), 'a positive integer'],
    ['inChannels', '--in-channels', (v) => v === 1 || v === 3, '1 or 3'],
    ['inputSize', '--input-size', (v) => int(v, 8), 'an integer ≥ 8'],
    ['dropout', '--dropout', (v) => num(v, 0, 0.999), 'a probability in [0, 1)'],
    ['fromNumClasses', '--from-num-classes', (v) => int(v, 1), 'a positive integer'],
    ['momentum', '--momentum', (v) => num(v, 0, 0.999), 'a number in [0, 1)'],
    ['weightDecay', '--weight-decay', (v) => num(v, 0), 'a number ≥ 0'],
    ['warmupEpochs', '--warmup-epochs', (v) => num(v, 0), 'a number ≥ 0'],
    ['gamma', '--gamma', (v) => num(v, 0, 1, true), 'a number in (0, 1]'],
    ['decayEvery', '--decay-every', (v) => num(v, 0, Infinity, true), 'a positive number of epochs'],
    ['minLr', '--min-lr', (v) => num(v, 0), 'a number ≥ 0'],
    ['auxWeight', '--aux-weight', (v) => num(v, 0), 'a number ≥ 0'],
    ['labelSmoothing', '--label-smoothing', (v) => num(v, 0, 0.999), 'a number in [0, 1)'],
    ['clipGradNorm', '--clip-grad-norm', (v) => num(v, 0, Infinity, true), 'a positive number'],
    ['ema', '--ema', (v) => num(v, 0, 0.999999999, true), 'a decay in (0, 1)'],
    ['emaEvery', '--ema-every', (v) => int(v, 1), 'a positive integer'],
    ['padding', '--padding', (v) => int(v, 0), 'an integer ≥ 0'],
    ['limitTrain', '--limit-train', (v) => int(v, 1), 'a positive integer'],
    ['limitTest', '--limit-test', (v) => int(v, 1), 'a positive integer'],
    ['valHoldout', '--val-holdout', (v) => int(v, 0), 'an integer ≥ 0'],
    ['seed', '--seed', (v) => int(v, 0) && (v as number) < 2 ** 31, 'an integer in [0, 2^31)'],
    ['workers', '--workers', (v) => int(v, 0), 'an integer ≥ 0'],
    ['threads', '--threads', (v) => int(v, 1), 'a positive integer'],
    ['logEvery', '--log-every', (v) => int(v, 1), 'a positive integer'],
    ['maxSteps', '--max-steps', (v) => int(v, 1), 'a positive integer'],
  ];
  for (const [key, flag, ok, want] of checks) {
    const v = o[key];
    if (v !== undefined && !ok(v)) fail(flag, want, v);
  }
  if (o.device !== undefined) parseDevice(o.device, '--device');
  if (o.freezeBackbone && !o.from) fail('--freeze-backbone', 'a pretrained model to freeze (--from MODEL)', true);
  if (o.nesterov && o.optimizer !== 'sgd') fail('--nesterov', '--optimizer sgd', o.optimizer ?? 'adam');
}

/** The default zero padding of the random crop for a fixed-size input. */
export function defaultPadding(inputSize: number): number {
  return inputSize >= 32 ? 4 : 2;
}
