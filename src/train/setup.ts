/**
 * Setting a run up, the same in Node and in the browser: the splits (held-out validation, limits),
 * the resolved config (options against the dataset and the `from` model), the resumed config
 * (a checkpoint's, with the few options a resumed run may change), and the {@link TrainRun} the
 * loop runs — model, training step, loader, schedule, EMA, position. Opening files is the
 * shells' part (`train-node.ts`, `web/train.ts`); everything here takes datasets and models.
 */
import { checkTrainConfig } from './config-schema.js';
import { SubsetDataset, infoOf, type Dataset, type DatasetInfo } from '../data/core.js';
import { DataLoader, type BatchPoolFactory } from '../data/loader.js';
import { resolveTransformConfig } from '../data/transforms.js';
import { InternalError, OptionError } from '../errors.js';
import { resolveConfig } from '../models/config.js';
import { GoogLeNet } from '../models/model.js';
import { Rng } from '../rng.js';
import type { Checkpoint } from './checkpoint.js';
import {
  BY_FLAG,
  defaultPadding,
  resumableOptions,
  storedOptions,
  TRAIN_DEFAULTS as D,
  type TrainConfig,
  type TrainOptionName,
  type TrainOptions,
} from './config.js';
import { Ema } from './ema.js';
import { optionSpec } from './options.js';
import { createTrainStep, type OptimizerState, type TrainStepOptions } from './engine.js';
import type { StepFactory, TrainRun } from './loop.js';
import { validateSchedule, type ScheduleConfig } from './schedule.js';

/** The training and validation sets of a run. */
export interface Splits {
  train: Dataset;
  val: Dataset | null;
  /** The training set's metadata (classes, channels, size, statistics). */
  info: DatasetInfo;
}

/** Parameters that a frozen-backbone run trains: the classifier heads. */
const HEAD = /^(fc|aux1|aux2)\./;

/** A seeded subset of `n` of `size` indices, in ascending order. */
function seededSubset(size: number, n: number, seed: number, stream: number): Int32Array {
  const perm = Rng.fromKeys(seed, stream).permutation(size);
  return perm.slice(0, Math.min(n, size)).sort();
}

/**
 * The splits a run trains and validates on: a seeded held-out part of `train` (`valHoldout`) or
 * `test`, each cut to its limit.
 */
export function selectSplits(
  train: Dataset,
  test: Dataset | null,
  o: { limitTrain: number | null; limitTest: number | null; valHoldout: number; seed: number },
): Splits {
  const info = infoOf(train);
  let val = test;
  if (o.valHoldout > 0) {
    if (o.valHoldout >= train.size)
      throw new OptionError(`--val-holdout: expected fewer than the ${train.size} training images, received ${o.valHoldout}`, {
        option: '--val-holdout',
      });
    const held = seededSubset(train.size, o.valHoldout, o.seed, 0x686f6c64);
    const heldSet = new Set(held);
    const rest = Int32Array.from({ length: train.size }, (_, i) => i).filter((i) => !heldSet.has(i));
    val = new SubsetDataset(train, held);
    train = new SubsetDataset(train, rest);
  }
  if (o.limitTrain !== null && o.limitTrain < train.size)
    train = new SubsetDataset(train, seededSubset(train.size, o.limitTrain, o.seed, 0x6c696d));
  if (val && o.limitTest !== null && o.limitTest < val.size)
    val = new SubsetDataset(
      val,
      Int32Array.from({ length: o.limitTest }, (_, i) => i),
    );
  return { train, val, info };
}

/** The model a run starts from: a fresh one, or a pretrained one (`from`) with a new classifier when the classes differ. */
function startingModel(o: TrainOptions, info: DatasetInfo, from: GoogLeNet | null, log: (m: string) => void): GoogLeNet {
  const seed = o.seed ?? D.seed;
  const threads = o.threads ?? null;
  if (from) {
    if (o.aux && !from.config.auxLogits)
      throw new OptionError(`--aux: the --from model ${o.from ?? ''} has no auxiliary heads`, { option: '--aux' });
    // The pretrained model's first convolution fixes its channels; the data are converted to them.
    if (o.inChannels !== undefined && o.inChannels !== from.config.inChannels)
      throw new OptionError(
        `--in-channels ${o.inChannels}: the --from model ${o.from ?? ''} takes ${from.config.inChannels}-channel images; leave --in-channels out`,
        { option: '--in-channels' },
      );
    const sameLabels = from.labels && from.labels.length === info.classes.length && from.labels.every((l, i) => l === info.classes[i]);
    if (from.config.numClasses !== info.numClasses || !sameLabels) {
      log(`--from ${o.from ?? ''}: new ${info.numClasses}-class classifier for ${info.name} (was ${from.config.numClasses} classes)`);
      from.resetClassifier(o.numClasses ?? info.numClasses, seed);
    }
    return from;
  }
  // A fresh model with other channels than the dataset's trains on converted pixels (greyscale
  // repeated to RGB, or RGB to luma): possible on purpose (a 3-channel model to fine-tune on
  // colour later), a mistake more often, so it is said.
  if (o.inChannels !== undefined && o.inChannels !== info.channels)
    log(
      `warning: --in-channels ${o.inChannels}: ${info.name} has ${info.channels}-channel images; ` +
        `they are converted to ${o.inChannels} channel${o.inChannels > 1 ? 's' : ''} (leave --in-channels out to train on them as they are)`,
    );
  const fixed = info.height !== null && info.height === info.width ? info.height : undefined;
  const inputSize = o.inputSize ?? fixed;
  const config = resolveConfig({
    preset: o.preset ?? D.preset,
    numClasses: o.numClasses ?? info.numClasses,
    inChannels: o.inChannels ?? info.channels,
    ...(inputSize !== undefined ? { inputSize } : {}),
    ...(o.width !== undefined ? { width: o.width } : {}),
    ...(o.dropout !== undefined ? { dropout: o.dropout } : {}),
    auxLogits: o.aux ?? D.aux,
  });
  // torchvision's initialization, seeded.
  return new GoogLeNet(config, { seed, ...(threads ? { threads } : {}), ...(o.device ? { device: o.device } : {}) });
}

/**
 * Resolves options against the splits (and the pretrained `from` model, already loaded) into the
 * full config, and makes the model it trains. `o.data`/`o.valData` are stored as given: the Node
 * shell resolves them to absolute paths first.
 */
export function resolveTrainConfig(
  o: TrainOptions,
  splits: Splits,
  from: { model: GoogLeNet; source: NonNullable<TrainConfig['from']> } | null,
  log: (m: string) => void,
): { cfg: TrainConfig; model: GoogLeNet } {
  const { info } = splits;
  const model = startingModel(o, info, from?.model ?? null, log);
  if (model.config.numClasses !== info.numClasses) {
    throw new OptionError(`--num-classes: the model has ${model.config.numClasses} classes but ${info.name} has ${info.numClasses}`, {
      option: '--num-classes',
    });
  }
  const S = model.config.inputSize;
  const C = model.config.inChannels as 1 | 3;
  const fixedSize = info.height !== null && info.height === info.width;
  const inception = o.inceptionCrop ?? !fixedSize;
  const norm = from && model.preprocess ? { mean: [...model.preprocess.mean], std: [...model.preprocess.std] } : {};
  const augment = {
    padding: o.padding ?? (inception ? 0 : defaultPadding(S)),
    flip: o.flip ?? D.flip,
    inceptionCrop: inception,
    photometric: o.photometric ?? D.photometric,
  };
  const trainT = resolveTransformConfig({ train: true, inputSize: S, channels: C, ...augment, ...norm }, info);
  const evalT = resolveTransformConfig({ train: false, inputSize: S, channels: C, ...norm }, info);
  const stored = storedOptions(o);
  const { batchSize } = stored;
  const dropLast = splits.train.size >= batchSize;
  const stepsPerEpoch = dropLast ? Math.floor(splits.train.size / batchSize) : Math.ceil(splits.train.size / batchSize);
  const opt = o.optimizer ?? D.optimizer;
  const lr = o.lr ?? (opt === 'sgd' ? 0.01 : 2e-4);
  const cfg: TrainConfig = {
    version: 1,
    dataset: {
      name: o.dataset,
      data: o.data ?? null,
      valData: o.valData ?? null,
      info,
      limitTrain: o.limitTrain ?? null,
      limitTest: o.limitTest ?? null,
      valHoldout: o.valHoldout ?? D.valHoldout,
      trainSize: splits.train.size,
      valSize: splits.val?.size ?? 0,
    },
    model: model.config,
    from: from?.source ?? null,
    optimizer:
      opt === 'sgd'
        ? { type: 'sgd', lr, momentum: o.momentum ?? D.momentum, weightDecay: o.weightDecay ?? 5e-4, nesterov: o.nesterov ?? D.nesterov }
        : { type: opt, lr, weightDecay: o.weightDecay ?? (opt === 'adamw' ? 0.01 : 0) },
    schedule: {
      type: o.schedule ?? D.schedule,
      warmupEpochs: o.warmupEpochs ?? D.warmupEpochs,
      gamma: o.gamma ?? D.gamma,
      decayEvery: o.decayEvery ?? D.decayEvery,
      minLr: o.minLr ?? D.minLr,
    },
    ema: o.ema !== undefined ? { decay: o.ema, every: o.emaEvery ?? D.emaEvery } : null,
    stepsPerEpoch,
    transform: { train: trainT, eval: evalT },
    ...stored,
    logEvery: o.logEvery ?? Math.max(1, Math.round(stepsPerEpoch / 20)),
  };
  return { cfg, model };
}

/**
 * The config of a resumed run: the checkpoint's, with the options a resumed run may change
 * (`resume` in their declaration: `epochs`, `threads`, `workers`, `logEvery`, …) taken from `o`
 * when given; other options are ignored with a log line.
 * @param file names the checkpoint in messages.
 */
export function resumedConfig(o: TrainOptions, saved: unknown, file: string, log: (m: string) => void): TrainConfig {
  let cfg = checkTrainConfig(saved, file);
  if (o.dataset !== cfg.dataset.name)
    throw new OptionError(`--dataset: the run in ${o.out} trains on ${cfg.dataset.name}, received "${o.dataset}"`, { option: '--dataset' });
  const resumable = new Set(resumableOptions());
  const given = (Object.keys(o) as TrainOptionName[]).filter((k) => o[k] !== undefined);
  const ignored = given.filter((k) => !resumable.has(k));
  if (ignored.length) log(`--resume: the checkpoint's config is used; ignoring ${ignored.map((k) => BY_FLAG.name(k)).join(', ')}`);
  for (const k of given) {
    if (!resumable.has(k) || !optionSpec(k).stored || !(k in cfg)) continue;
    const before = cfg[k as keyof TrainConfig];
    if (before === o[k]) continue;
    if (k === 'epochs') log(`--resume: epochs ${String(before)} → ${String(o[k])}`);
    cfg = { ...cfg, [k]: o[k] };
  }
  return cfg;
}

function scheduleOf(cfg: TrainConfig): ScheduleConfig {
  const s: ScheduleConfig = { ...cfg.schedule, lr: cfg.optimizer.lr, stepsPerEpoch: cfg.stepsPerEpoch, epochs: cfg.epochs };
  validateSchedule(s);
  return s;
}

function stepOptions(cfg: TrainConfig): TrainStepOptions {
  const o = cfg.optimizer;
  return {
    optimizer:
      o.type === 'sgd'
        ? { type: 'sgd', lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay, nesterov: o.nesterov }
        : { type: o.type, lr: o.lr, weightDecay: o.weightDecay },
    auxWeight: cfg.auxWeight,
    labelSmoothing: cfg.labelSmoothing,
    ...(cfg.clipGradNorm !== null ? { clipGradNorm: cfg.clipGradNorm } : {}),
    ...(cfg.freezeBackbone ? { freeze: (name: string) => !HEAD.test(name) } : {}),
    seed: cfg.seed,
    ...(cfg.threads ? { threads: cfg.threads } : {}),
  };
}

/** The trainer's own bookkeeping saved in a checkpoint (`Checkpoint.loop`). */
interface LoopState {
  epochLossSum: number;
  epochCorrect: number;
  epochSeen: number;
  elapsed: number;
}

export interface CreateRunOptions {
  /** Continue from this checkpoint (its weights are already in `model`). */
  checkpoint?: Checkpoint<TrainConfig> | null;
  /** The training step. Default: the engine's `createTrainStep`. */
  createStep?: StepFactory;
  /** The loader's worker pool (Node: worker threads); none prepares batches on the main thread. */
  pool?: BatchPoolFactory;
  onWarning?: (message: string) => void;
}

/** Everything the loop runs on, at the checkpoint's position or at the start. */
export function createRun(cfg: TrainConfig, model: GoogLeNet, splits: Splits, o: CreateRunOptions = {}): TrainRun {
  const ckpt = o.checkpoint ?? null;
  model.labels = [...cfg.dataset.info.classes];
  model.preprocess = {
    resize: cfg.transform.eval.resize,
    crop: cfg.transform.eval.inputSize,
    mean: [...cfg.transform.eval.mean],
    std: [...cfg.transform.eval.std],
  };
  const schedule = scheduleOf(cfg);
  const makeStep = o.createStep ?? ((m: GoogLeNet, so: TrainStepOptions) => createTrainStep(m, so));
  const stepper = makeStep(model, stepOptions(cfg));
  stepper.checkMemory?.(cfg.batchSize, '--batch-size');
  if (ckpt) stepper.loadOptimizerState(ckpt.optimizer as OptimizerState);
  const loader = new DataLoader(splits.train, {
    batchSize: cfg.batchSize,
    transform: cfg.transform.train,
    seed: cfg.seed,
    shuffle: true,
    dropLast: splits.train.size >= cfg.batchSize,
    workers: o.pool ? cfg.workers : 0,
    ...(o.pool ? { pool: o.pool } : {}),
    ...(o.onWarning ? { onWarning: o.onWarning } : {}),
  });
  if (loader.numBatches !== cfg.stepsPerEpoch)
    throw new InternalError(`${loader.numBatches} batches per epoch, the config says ${cfg.stepsPerEpoch}`);
  const loop = ckpt?.loop as LoopState | undefined;
  let ema: Ema | null = null;
  if (cfg.ema) ema = ckpt?.ema ? Ema.fromState(ckpt.ema) : new Ema(model.weights, { decay: cfg.ema.decay });
  return {
    cfg,
    model,
    stepper,
    loader,
    val: splits.val,
    schedule,
    rng: ckpt ? Rng.fromState(ckpt.rng) : new Rng(cfg.seed),
    ema,
    position: ckpt ? { ...ckpt.position } : { epoch: 0, batch: 0, step: 0 },
    best: ckpt?.best ?? null,
    sums: { lossSum: loop?.epochLossSum ?? 0, correct: loop?.epochCorrect ?? 0, seen: loop?.epochSeen ?? 0 },
    elapsed: loop?.elapsed ?? 0,
    lastCheckpointStep: ckpt ? ckpt.position.step : null,
  };
}

/** Releases what a run holds: the loader's workers, the step's session, the model's sessions. */
export async function disposeRun(run: TrainRun): Promise<void> {
  await run.loader.close();
  await run.stepper.dispose();
  await run.model.dispose();
}
