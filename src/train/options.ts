/**
 * Every option of `googlenet train` (and of `train()`), declared once: its check (and so its
 * TypeScript type), its default, whether a resumed run may change it, where the run's config
 * stores it, and its flag and help. `TrainOptions`, `validateTrainOptions`, the stored config's
 * check (`config-schema.ts`) and the CLI's flags (`cli/train.ts`) are all derived from this table.
 *
 * Adding a hyper-parameter is one entry here (with `stored: 'value'` it is also kept in every
 * checkpoint and read back on `--resume`), plus the code that uses it.
 */
import { bool, int, num, oneOf, text, type Check } from '../checks.js';
import { DATASET_NAMES } from '../data/core.js';
import { PRESETS } from '../models/config.js';
import { BROWSER_DEVICES, NODE_DEVICES } from '../runtime/device.js';
import { SCHEDULES } from './schedule.js';

export const OPTIMIZERS = ['adam', 'adamw', 'sgd'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];
export const KEEP = ['best', 'last'] as const;
const DEVICES = [...new Set([...NODE_DEVICES, ...BROWSER_DEVICES])];

/** One option. */
export interface OptionSpec<T> {
  /** The check of a given value; its type is the option's type. */
  check: Check<T>;
  /** What a run uses when the option is not given (when it is one constant). */
  default?: T;
  /** The default in words, when it depends on other options or on the data ("0.01 for sgd"). */
  defaultHelp?: string;
  /** The option must be given. */
  required?: true;
  /** A resumed run may change it; any other option given with `--resume` is ignored with a log line. */
  resume?: true;
  /**
   * Kept at the top level of the run's config (`TrainConfig`) under the option's name, and so in
   * every checkpoint: 'value' (the default filled in) or 'nullable' (null when not given).
   * Options without it are kept in a group of the config (`optimizer`, `schedule`, `dataset`) or not at all.
   */
  stored?: 'value' | 'nullable';
  /** The flag as commander takes it: `--epochs <n>`, `--nesterov`, `--no-flip` (given only as false). */
  flag: string;
  /** The flag's help; the default is added from `default`/`defaultHelp`. */
  help: string;
}

/** An option of check `check`; the rest keeps its literal types (`required: true`, `stored: 'value'`) for the types below. */
function spec<T, const S extends Omit<OptionSpec<T>, 'check'>>(check: Check<T>, rest: S): S & { check: Check<T> } {
  return { ...rest, check };
}

/** The options, in the order `googlenet train --help` lists them. */
export const TRAIN_OPTIONS = {
  // The data and the run folder.
  /** Dataset name. */
  dataset: spec(oneOf(DATASET_NAMES), { required: true, resume: true, flag: '--dataset <name>', help: DATASET_NAMES.join(', ') }),
  /** Its folder; not needed for fashion-mnist (Debian's folder) and fashion-mnist-subset. */
  data: spec(text('a folder'), {
    resume: true,
    flag: '--data <dir>',
    help: "dataset folder (not needed for fashion-mnist-subset, nor fashion-mnist when Debian's dataset-fashion-mnist is installed)",
  }),
  /** Image folders: a separate validation folder. */
  valData: spec(text('a folder'), { resume: true, flag: '--val-data <dir>', help: 'folder datasets: a separate validation folder' }),
  /** The run folder: checkpoint, metrics, plots, and the model itself (config.json + model.safetensors). */
  out: spec(text('a folder for the run'), {
    required: true,
    resume: true,
    flag: '--out <dir>',
    help: 'run folder (a model directory once an epoch is done)',
  }),
  /** Continue the run in `out` from its checkpoint. */
  resume: spec(bool, {
    default: false,
    resume: true,
    flag: '--resume',
    help: 'continue the run in --out from its checkpoint (only --epochs, --threads, --device, --workers, --log-every, --max-steps may change)',
  }),

  // The architecture, and fine-tuning from other weights.
  /** Architecture preset. */
  preset: spec(oneOf(PRESETS), { default: 'cifar', flag: '--preset <name>', help: `architecture: ${PRESETS.join(', ')}` }),
  /** Width multiplier on every hidden channel count. */
  width: spec(num({ gt: 0, le: 4 }), { default: 1, flag: '--width <w>', help: 'width multiplier on every hidden channel count' }),
  /** Train the auxiliary heads too (loss + auxWeight·(aux1 + aux2)). */
  aux: spec(bool, { default: false, flag: '--aux', help: 'train the auxiliary classifiers too (loss + aux-weight × (aux1 + aux2))' }),
  /** Override of the dataset's class count. */
  numClasses: spec(int(1), { defaultHelp: "the dataset's", flag: '--num-classes <n>', help: "override the dataset's class count" }),
  /** Must equal the dataset's channels (or the `from` model's): a mismatch is an OptionError. */
  inChannels: spec(oneOf([1, 3], '1 or 3'), {
    defaultHelp: "the dataset's",
    flag: '--in-channels <c>',
    help: '1 or 3 (other channels than the data train on converted images, with a warning; not with --from)',
  }),
  /** Override of the input size. */
  inputSize: spec(int(8, 4096), {
    defaultHelp: "the dataset's image size, else 224",
    flag: '--input-size <s>',
    help: 'override the input size',
  }),
  /** Dropout before the classifier. */
  dropout: spec(num({ ge: 0, lt: 1 }, 'a probability in [0, 1)'), {
    defaultHelp: "the preset's",
    flag: '--dropout <p>',
    help: 'dropout before the classifier',
  }),
  /**
   * Start from this model: a model directory, torchvision weights (.pth/.safetensors, with
   * `fromPreset`), an http(s) URL or a registry name such as `'imagenet'` (downloaded and cached;
   * its options are the defaults of the three below).
   */
  from: spec(text('a model directory, weight file, URL or weights name'), {
    flag: '--from <model>',
    help: 'fine-tune: start from a model directory, torchvision weights (.pth/.safetensors), an http(s) URL or named weights (imagenet); the classifier is replaced',
  }),
  /** Architecture of a `from` weight file. */
  fromPreset: spec(oneOf(PRESETS), {
    defaultHelp: "the named weights', else torchvision",
    flag: '--from-preset <name>',
    help: 'architecture of a --from weight file',
  }),
  /** Classes of a `from` weight file. */
  fromNumClasses: spec(int(1), {
    defaultHelp: "the named weights', else 1000",
    flag: '--from-num-classes <n>',
    help: 'classes of a --from weight file',
  }),
  /** A `from` weight file uses torchvision's `transform_input` (its official ImageNet weights do). */
  fromTransformInput: spec(bool, {
    defaultHelp: "the named weights', else off",
    flag: '--from-transform-input',
    help: "a --from weight file uses torchvision's transform_input (its official ImageNet weights do)",
  }),
  /** Train only the classifier head(s) (`fc`, and the aux heads when on). */
  freezeBackbone: spec(bool, {
    default: false,
    stored: 'value',
    flag: '--freeze-backbone',
    help: 'with --from: train only the classifier head(s)',
  }),

  // Epochs, optimizer, schedule, losses and weight averaging.
  /** Passes over the training set. */
  epochs: spec(int(1), { default: 10, resume: true, stored: 'value', flag: '--epochs <n>', help: 'passes over the training set' }),
  /** Images per step (the PyTorch CIFAR-10 tutorial: 100). */
  batchSize: spec(int(1), { default: 100, stored: 'value', flag: '--batch-size <n>', help: 'images per step' }),
  /** Peak learning rate (the PyTorch CIFAR-10 tutorial's Adam recipe: 2e-4). */
  lr: spec(num({ gt: 0 }), { defaultHelp: '0.0002 for adam and adamw, 0.01 for sgd', flag: '--lr <lr>', help: 'peak learning rate' }),
  optimizer: spec(oneOf(OPTIMIZERS), { default: 'adam', flag: '--optimizer <name>', help: OPTIMIZERS.join(', ') }),
  /** SGD momentum (0.9: the paper's). */
  momentum: spec(num({ ge: 0, lt: 1 }), { default: 0.9, flag: '--momentum <m>', help: 'SGD momentum' }),
  /** Nesterov momentum (SGD). */
  nesterov: spec(bool, { default: false, flag: '--nesterov', help: 'SGD: Nesterov momentum' }),
  /** L2 weight decay (decoupled for adamw). */
  weightDecay: spec(num({ ge: 0 }), {
    defaultHelp: '0 for adam, 0.01 for adamw, 5e-4 for sgd',
    flag: '--weight-decay <wd>',
    help: 'L2 weight decay (decoupled for adamw)',
  }),
  schedule: spec(oneOf(SCHEDULES), {
    default: 'constant',
    flag: '--schedule <name>',
    help: `learning-rate schedule: ${SCHEDULES.join(', ')} (step = ×gamma every decay-every epochs)`,
  }),
  /** Linear warm-up epochs. */
  warmupEpochs: spec(num({ ge: 0 }), { default: 0, flag: '--warmup-epochs <e>', help: 'linear warm-up epochs' }),
  /** Step schedule: the factor (0.96: the paper's). */
  gamma: spec(num({ gt: 0, le: 1 }), { default: 0.96, flag: '--gamma <g>', help: 'step schedule: the factor' }),
  /** Step schedule: the period in epochs (8: the paper's). */
  decayEvery: spec(num({ gt: 0 }, 'a positive number of epochs'), {
    default: 8,
    flag: '--decay-every <e>',
    help: 'step schedule: the period in epochs',
  }),
  /** Cosine schedule: the final learning rate. */
  minLr: spec(num({ ge: 0 }), { default: 0, flag: '--min-lr <lr>', help: 'cosine schedule: the final learning rate' }),
  /** Weight of each aux head's loss (0.3: the paper's). */
  auxWeight: spec(num({ ge: 0 }), {
    default: 0.3,
    stored: 'value',
    flag: '--aux-weight <w>',
    help: 'weight of each auxiliary loss',
  }),
  /** Label smoothing ε of every head's cross-entropy. */
  labelSmoothing: spec(num({ ge: 0, lt: 1 }), {
    default: 0,
    stored: 'value',
    flag: '--label-smoothing <e>',
    help: 'label smoothing',
  }),
  /** Clip the global gradient norm. */
  clipGradNorm: spec(num({ gt: 0 }), {
    defaultHelp: 'off',
    stored: 'nullable',
    flag: '--clip-grad-norm <n>',
    help: 'clip the global gradient norm',
  }),
  /** Polyak averaging decay per step, e.g. 0.999. */
  ema: spec(num({ gt: 0, lt: 1 }, 'a decay in (0, 1)'), {
    defaultHelp: 'off',
    flag: '--ema <decay>',
    help: 'Polyak averaging of the weights with this decay per step, e.g. 0.999',
  }),
  /** Fold the weights into the average every k steps (reading them out costs a copy). */
  emaEvery: spec(int(1), { default: 1, flag: '--ema-every <k>', help: 'fold the weights into the average every k steps' }),

  // Augmentation and the subsets trained and validated on.
  /** Train: zero padding of the random crop. */
  padding: spec(int(0), {
    defaultHelp: '2 at ≤ 28 px, 4 at 32 px, 0 with the Inception crop',
    flag: '--padding <p>',
    help: 'random-crop zero padding',
  }),
  /** Train: random horizontal flips. */
  flip: spec(bool, { default: true, flag: '--no-flip', help: 'no random horizontal flips' }),
  /** Train: the Inception crop (8%–100% of the area). */
  inceptionCrop: spec(bool, {
    defaultHelp: 'on for image folders',
    flag: '--inception-crop',
    help: "the paper's Inception crop (8%–100% of the area)",
  }),
  /** Train: photometric distortion. */
  photometric: spec(bool, {
    default: false,
    flag: '--photometric',
    help: 'photometric distortion (brightness, contrast, saturation)',
  }),
  /** Train on a seeded random subset of N images. */
  limitTrain: spec(int(1), { defaultHelp: 'all', flag: '--limit-train <n>', help: 'train on a seeded random subset of N images' }),
  /** Validate on the first N test images. */
  limitTest: spec(int(1), { defaultHelp: 'all', flag: '--limit-test <n>', help: 'validate on the first N test images' }),
  /** Hold out N (seeded) training images as the validation set instead of the test split (0: use the test split). */
  valHoldout: spec(int(0), {
    default: 0,
    flag: '--val-holdout <n>',
    help: 'validate on N held-out training images instead of the test split',
  }),

  // What is kept, seeds, threads, logging.
  /** What the run folder's model is: the best by validation top-1, or the last. */
  keep: spec(oneOf(KEEP), {
    default: 'best',
    stored: 'value',
    flag: '--keep <which>',
    help: "the run folder's model: best (by validation top-1) or last",
  }),
  /** Seed of initialization, data order, augmentation and dropout. */
  seed: spec(int(0, 2 ** 31 - 1, 'an integer in [0, 2^31)'), {
    default: 0,
    stored: 'value',
    flag: '--seed <s>',
    help: 'seed of initialization, data order, augmentation and dropout',
  }),
  /** Loader worker threads. */
  workers: spec(int(0), { default: 1, resume: true, stored: 'value', flag: '--workers <n>', help: 'data-loader worker threads' }),
  /** ONNX Runtime intra-op threads. */
  threads: spec(int(1), {
    defaultHelp: 'all cores',
    resume: true,
    stored: 'nullable',
    flag: '--threads <n>',
    help: 'ONNX Runtime threads',
  }),
  /** Where the steps run (`runtime/device.ts`). Not part of the run: a resumed run may change it. */
  device: spec(oneOf(DEVICES), { defaultHelp: 'cpu in Node', resume: true, flag: '--device <name>', help: 'where the steps run' }),
  /** A step line in metrics.jsonl (and a plain progress line) every N steps. */
  logEvery: spec(int(1), {
    defaultHelp: 'about 20 per epoch',
    resume: true,
    stored: 'value',
    flag: '--log-every <n>',
    help: 'a metrics line (and a plain progress line) every N steps',
  }),
  /** Stop after N steps of this invocation (tests, benchmarks), checkpointing like an interrupt. */
  maxSteps: spec(int(1), { resume: true, flag: '--max-steps <n>', help: 'stop after N steps of this invocation, with a checkpoint' }),
};

export type TrainOptionName = keyof typeof TRAIN_OPTIONS;
type Specs = typeof TRAIN_OPTIONS;
/** The type of option `K`'s values. */
export type TrainOptionValue<K extends TrainOptionName> = Specs[K] extends { check: Check<infer T> } ? T : never;
type ValueOf<K extends TrainOptionName> = TrainOptionValue<K>;
type IsRequired<K extends TrainOptionName> = Specs[K] extends { required: true } ? true : false;

/**
 * What `googlenet train` (or a script) asks for: every option of {@link TRAIN_OPTIONS}, all
 * optional but the dataset and the run folder. Each field's check, default and flag are there.
 */
export type TrainOptions = { [K in keyof Specs as IsRequired<K> extends true ? K : never]: ValueOf<K> } & {
  [K in keyof Specs as IsRequired<K> extends true ? never : K]?: ValueOf<K>;
};

/** The options with a constant default, and their defaults. */
export const TRAIN_DEFAULTS = Object.fromEntries(
  Object.entries(TRAIN_OPTIONS).flatMap(([k, s]) => ('default' in s ? [[k, s.default]] : [])),
) as { [K in keyof Specs as Specs[K] extends { default: unknown } ? K : never]: ValueOf<K> };

/** Option `k`'s declaration, seen through the common {@link OptionSpec} shape. */
export function optionSpec(k: TrainOptionName): OptionSpec<unknown> {
  return TRAIN_OPTIONS[k] as OptionSpec<unknown>;
}
