/**
 * The trainer: dataset → loader → training step → metrics, progress, checkpoints, evaluation.
 *
 *   const r = await train({ dataset: 'fashion-mnist-subset', out: 'runs/demo', preset: 'cifar', width: 0.25, epochs: 3 });
 *
 * The run folder `out` holds
 *   checkpoint.safetensors   weights, optimizer state, EMA, position, RNG state, the whole config
 *   config.json + model.safetensors   the best model by validation top-1 (or the last: `keep`),
 *                            so `out` itself is a model directory for predict/eval/export
 *   ema/                     the EMA weights as a model directory (with `ema`)
 *   metrics.jsonl, loss.{svg,png}, accuracy.{svg,png}
 *   eval.json, confusion.{json,svg,png}   validation metrics of the run folder's model
 *   run.json                 the resolved config and the command line
 *
 * Determinism: initialization, data order, augmentation and dropout are functions of the seed
 * and the position (epoch, batch, step), so `resume` continues at the exact step and ends with the
 * same weights as an uninterrupted run. A checkpoint is written after every epoch and when
 * SIGINT/SIGTERM arrives (after the current step); a second signal exits at once. A NaN or
 * infinite loss stops the run without writing, so the last good checkpoint stays as it was.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openDataset, SubsetDataset, type Dataset, type DatasetInfo } from '../data/dataset.js';
import { infoOf } from '../data/core.js';
import { DataLoader } from '../data/loader.js';
import { Rng } from '../rng.js';
import { resolveTransformConfig } from '../data/transforms.js';
import { GoogLeNetError, OptionError } from '../errors.js';
import { evaluate } from '../eval/evaluate.js';
import type { EvalMetrics } from '../eval/metrics.js';
import { resolveConfig, type GoogLeNetConfig } from '../models/config.js';
import { GoogLeNet, type StateTensor } from '../models/model.js';
import type { Tensor } from '../tensor.js';
import { importWeights, loadModelDir, saveModelDir } from '../weights/model-dir.js';
import { writeAtomic, loadCheckpoint, saveCheckpoint, type BestRecord, type Checkpoint, type CheckpointIo, type TrainPosition } from './checkpoint.js';
import { defaultPadding, validateTrainOptions, type TrainConfig, type TrainOptions } from './config.js';
import { biasCorrectedBatchNorm } from './bn.js';
import { Ema } from './ema.js';
import { createTrainStep, type OptimizerState, type TrainStepOptions } from './engine.js';
import { MetricsLog, RunningMean, readMetrics, type EpochRecord } from './metrics.js';
import { confusionSvg, writeSvgAndPng, writeTrainingPlots } from './plot.js';
import { Progress, formatDuration, type ProgressMode } from './progress.js';
import { learningRate, validateSchedule, type ScheduleConfig } from './schedule.js';

/** What the loop needs of a training step (the engine's `TrainStep`; tests substitute their own). */
export interface TrainStepLike {
  step(x: Tensor, y: Int32Array, o: { lr: number }): Promise<{ loss: number; correct: number }>;
  optimizerState(): OptimizerState;
  loadOptimizerState(s: OptimizerState): void;
  /** Writes the current weights into `model.weights` (and invalidates the model's sessions). */
  syncWeights(): void;
  dispose(): void | Promise<void>;
}

export type StepFactory = (model: GoogLeNet, options: TrainStepOptions) => TrainStepLike;

export interface TrainHooks {
  /** 'auto' (default): a bar when stderr is a terminal, plain lines otherwise. */
  progress?: ProgressMode | 'auto';
  /** Where progress and log lines go. Default: process.stderr. */
  write?: (s: string) => void;
  /** The training step. Default: the engine's `createTrainStep`. */
  createStep?: StepFactory;
  /** Install SIGINT/SIGTERM handlers that checkpoint and stop. Default true. */
  handleSignals?: boolean;
  /** File-system calls of checkpoint writes (tests make them fail). */
  checkpointIo?: CheckpointIo;
}

export interface TrainResult {
  out: string;
  status: 'completed' | 'interrupted';
  /** Position after the run (the next step to take). */
  position: TrainPosition;
  best: BestRecord | null;
  /** The last epoch's record. */
  last: EpochRecord | null;
  /** Validation metrics of the run folder's model (best or last), when there is a validation set. */
  metrics: EvalMetrics | null;
  /** Wall-clock seconds of this invocation. */
  seconds: number;
  files: { checkpoint: string; model: string; metrics: string; plots: string[]; confusion: string[] };
}

/** The loss went NaN or infinite. */
export class TrainingDivergedError extends GoogLeNetError {
  override name = 'TrainingDivergedError';
}

/** State of the loop itself, saved in the checkpoint so a resumed epoch reports whole-epoch means. */
interface LoopState {
  epochLossSum: number;
  epochCorrect: number;
  epochSeen: number;
  /** Training seconds before this invocation. */
  elapsed: number;
}

const HEAD = /^(fc|aux1|aux2)\./;

function now(): number {
  return performance.now() / 1000;
}

/** A seeded subset of `n` of `size` indices, in ascending order. */
export function seededSubset(size: number, n: number, seed: number, stream: number): Int32Array {
  const perm = Rng.fromKeys(seed, stream).permutation(size);
  return perm.slice(0, Math.min(n, size)).sort();
}

interface Splits {
  train: Dataset;
  val: Dataset | null;
  info: DatasetInfo;
}

async function openSplits(o: { name: TrainConfig['dataset']['name']; data: string | null; valData: string | null; limitTrain: number | null; limitTest: number | null; valHoldout: number; seed: number }, warn: (m: string) => void): Promise<Splits> {
  const base = { name: o.name, ...(o.data ? { data: o.data } : {}), ...(o.valData ? { valData: o.valData } : {}), onWarning: warn };
  let train: Dataset = await openDataset({ ...base, split: 'train' });
  const info = infoOf(train);
  let val: Dataset | null = null;
  if (o.valHoldout > 0) {
    if (o.valHoldout >= train.size) throw new OptionError(`--val-holdout: expected fewer than the ${train.size} training images, received ${o.valHoldout}`);
    const held = seededSubset(train.size, o.valHoldout, o.seed, 0x686f6c64);
    const heldSet = new Set(held);
    const rest = Int32Array.from({ length: train.size }, (_, i) => i).filter((i) => !heldSet.has(i));
    val = new SubsetDataset(train, held);
    train = new SubsetDataset(train, rest);
  } else {
    try {
      val = await openDataset({ ...base, split: 'test' });
    } catch (e) {
      if (!(e instanceof OptionError && /no validation split/.test(e.message))) throw e;
      warn(`${o.name}: no validation split, so no per-epoch validation (pass --val-data or --val-holdout N)`);
    }
  }
  if (o.limitTrain !== null && o.limitTrain < train.size) train = new SubsetDataset(train, seededSubset(train.size, o.limitTrain, o.seed, 0x6c696d));
  if (val && o.limitTest !== null && o.limitTest < val.size) val = new SubsetDataset(val, Int32Array.from({ length: o.limitTest }, (_, i) => i));
  return { train, val, info };
}

function freshModel(config: GoogLeNetConfig, seed: number, threads: number | null): GoogLeNet {
  // torchvision's initialization, seeded.
  return new GoogLeNet(config, { seed, ...(threads ? { threads } : {}) });
}

/** The pretrained model of `--from`: a model directory or a torchvision weight file. */
function loadFrom(path: string, preset: TrainConfig['model']['preset'], numClasses: number, transformInput: boolean, aux: boolean, threads: number | null): GoogLeNet {
  if (!existsSync(path)) throw new OptionError(`--from: ${path} does not exist (expected a model directory or a .pth/.safetensors file)`);
  const create = threads ? { threads } : {};
  if (statSync(path).isDirectory()) return loadModelDir(path, create);
  return importWeights(path, { preset, numClasses, transformInput, auxLogits: aux }, create);
}

function stateDictOf(weights: Map<string, Float32Array | BigInt64Array>, shapes: Map<string, readonly number[]> | undefined, model: GoogLeNet): Map<string, StateTensor> {
  const want = new Map(model.paramSpecs().map((p) => [p.name, p.shape]));
  const sd = new Map<string, StateTensor>();
  for (const [k, v] of weights) sd.set(k, { dims: [...(shapes?.get(k) ?? want.get(k) ?? [v.length])], data: v });
  return sd;
}

/** Resolves options against the dataset (and the `from` model) into a full config and the model. */
async function setUp(o: TrainOptions, log: (m: string) => void): Promise<{ cfg: TrainConfig; model: GoogLeNet; splits: Splits }> {
  const seed = o.seed ?? 0;
  const splits = await openSplits(
    { name: o.dataset, data: o.data ?? null, valData: o.valData ?? null, limitTrain: o.limitTrain ?? null, limitTest: o.limitTest ?? null, valHoldout: o.valHoldout ?? 0, seed },
    log,
  );
  const { info } = splits;
  const threads = o.threads ?? null;
  let model: GoogLeNet;
  let from: TrainConfig['from'] = null;
  if (o.from) {
    const preset = o.fromPreset ?? 'torchvision';
    const numClasses = o.fromNumClasses ?? 1000;
    const transformInput = !!o.fromTransformInput;
    model = loadFrom(o.from, preset, numClasses, transformInput, !!o.aux, threads);
    from = { path: resolve(o.from), preset, numClasses, transformInput };
    if (o.aux && !model.config.auxLogits) throw new OptionError(`--aux: the --from model ${o.from} has no auxiliary heads`);
    const sameLabels = model.labels && model.labels.length === info.classes.length && model.labels.every((l, i) => l === info.classes[i]);
    if (model.config.numClasses !== info.numClasses || !sameLabels) {
      log(`--from ${o.from}: new ${info.numClasses}-class classifier for ${info.name} (was ${model.config.numClasses} classes)`);
      model.resetClassifier(o.numClasses ?? info.numClasses, seed);
    }
  } else {
    const fixed = info.height !== null && info.height === info.width ? info.height : undefined;
    const mc = resolveConfig({
      preset: o.preset ?? 'cifar',
      numClasses: o.numClasses ?? info.numClasses,
      inChannels: o.inChannels ?? info.channels,
      ...((o.inputSize ?? fixed) !== undefined ? { inputSize: o.inputSize ?? fixed } : {}),
      ...(o.width !== undefined ? { width: o.width } : {}),
      ...(o.dropout !== undefined ? { dropout: o.dropout } : {}),
      auxLogits: !!o.aux,
    });
    model = freshModel(mc, seed, threads);
  }
  if (model.config.numClasses !== info.numClasses) {
    throw new OptionError(`--num-classes: the model has ${model.config.numClasses} classes but ${info.name} has ${info.numClasses}`);
  }
  const S = model.config.inputSize;
  const C = model.config.inChannels as 1 | 3;
  const fixedSize = info.height !== null && info.height === info.width;
  const inception = o.inceptionCrop ?? !fixedSize;
  const norm = from && model.preprocess ? { mean: [...model.preprocess.mean], std: [...model.preprocess.std] } : {};
  const trainT = resolveTransformConfig(
    {
      train: true,
      inputSize: S,
      channels: C,
      padding: o.padding ?? (inception ? 0 : defaultPadding(S)),
      flip: o.flip ?? true,
      inceptionCrop: inception,
      photometric: o.photometric ?? false,
      ...norm,
    },
    info,
  );
  const evalT = resolveTransformConfig({ train: false, inputSize: S, channels: C, ...norm }, info);
  const batchSize = o.batchSize ?? 100;
  const dropLast = splits.train.size >= batchSize;
  const stepsPerEpoch = dropLast ? Math.floor(splits.train.size / batchSize) : Math.ceil(splits.train.size / batchSize);
  const opt = o.optimizer ?? 'adam';
  const lr = o.lr ?? (opt === 'sgd' ? 0.01 : 2e-4);
  const cfg: TrainConfig = {
    version: 1,
    dataset: {
      name: o.dataset,
      data: o.data ? resolve(o.data) : null,
      valData: o.valData ? resolve(o.valData) : null,
      info,
      limitTrain: o.limitTrain ?? null,
      limitTest: o.limitTest ?? null,
      valHoldout: o.valHoldout ?? 0,
      trainSize: splits.train.size,
      valSize: splits.val?.size ?? 0,
    },
    model: model.config,
    from,
    freezeBackbone: !!o.freezeBackbone,
    optimizer:
      opt === 'sgd'
        ? { type: 'sgd', lr, momentum: o.momentum ?? 0.9, weightDecay: o.weightDecay ?? 5e-4, nesterov: !!o.nesterov }
        : { type: opt, lr, weightDecay: o.weightDecay ?? (opt === 'adamw' ? 0.01 : 0) },
    schedule: { type: o.schedule ?? 'constant', warmupEpochs: o.warmupEpochs ?? 0, gamma: o.gamma ?? 0.96, decayEvery: o.decayEvery ?? 8, minLr: o.minLr ?? 0 },
    auxWeight: o.auxWeight ?? 0.3,
    labelSmoothing: o.labelSmoothing ?? 0,
    clipGradNorm: o.clipGradNorm ?? null,
    ema: o.ema !== undefined ? { decay: o.ema, every: o.emaEvery ?? 1 } : null,
    epochs: o.epochs ?? 10,
    batchSize,
    stepsPerEpoch,
    seed,
    keep: o.keep ?? 'best',
    transform: { train: trainT, eval: evalT },
    workers: o.workers ?? 1,
    threads,
    logEvery: o.logEvery ?? Math.max(1, Math.round(stepsPerEpoch / 20)),
  };
  return { cfg, model, splits };
}

function scheduleOf(cfg: TrainConfig): ScheduleConfig {
  const s: ScheduleConfig = { ...cfg.schedule, lr: cfg.optimizer.lr, stepsPerEpoch: cfg.stepsPerEpoch, epochs: cfg.epochs };
  validateSchedule(s);
  return s;
}

function stepOptions(cfg: TrainConfig): TrainStepOptions {
  const o = cfg.optimizer;
  return {
    optimizer: o.type === 'sgd' ? { type: 'sgd', lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay, nesterov: o.nesterov } : { type: o.type, lr: o.lr, weightDecay: o.weightDecay },
    auxWeight: cfg.auxWeight,
    labelSmoothing: cfg.labelSmoothing,
    ...(cfg.clipGradNorm !== null ? { clipGradNorm: cfg.clipGradNorm } : {}),
    ...(cfg.freezeBackbone ? { freeze: (name: string) => !HEAD.test(name) } : {}),
    seed: cfg.seed,
    ...(cfg.threads ? { threads: cfg.threads } : {}),
  };
}

/** Options a resumed run takes from the checkpoint; these may still be given. */
const RESUME_OVERRIDABLE = new Set(['dataset', 'out', 'resume', 'epochs', 'threads', 'workers', 'data', 'valData', 'maxSteps', 'logEvery']);

/** Trains (or resumes) a run; see the module comment for what lands in `out`. */
export async function train(options: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const t0 = now();
  validateTrainOptions(options);
  const write = hooks.write ?? ((s: string) => void process.stderr.write(s));
  const mode: ProgressMode = hooks.progress === undefined || hooks.progress === 'auto' ? (process.stderr.isTTY ? 'tty' : 'plain') : hooks.progress;
  const progress = new Progress(mode, write);
  const log = (m: string): void => progress.line(m);
  const out = resolve(options.out);
  const ckptPath = join(out, 'checkpoint.safetensors');
  const io = hooks.checkpointIo;

  let ckpt: Checkpoint<TrainConfig> | null = null;
  let cfg: TrainConfig;
  let model: GoogLeNet;
  let splits: Splits;
  if (options.resume) {
    if (!existsSync(ckptPath)) throw new OptionError(`--resume: no checkpoint at ${ckptPath} (drop --resume to start a new run)`);
    ckpt = loadCheckpoint<TrainConfig>(ckptPath);
    cfg = ckpt.config;
    if (cfg?.version !== 1) throw new OptionError(`${ckptPath}: training config version ${String(cfg?.version)} is not one this googlenet-ts reads (1)`);
    if (options.dataset !== cfg.dataset.name) throw new OptionError(`--dataset: the run in ${out} trains on ${cfg.dataset.name}, received "${options.dataset}"`);
    const ignored = Object.keys(options).filter((k) => !RESUME_OVERRIDABLE.has(k) && options[k as keyof TrainOptions] !== undefined);
    if (ignored.length) log(`--resume: the checkpoint's config is used; ignoring ${ignored.map((k) => `--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`).join(', ')}`);
    if (options.epochs !== undefined && options.epochs !== cfg.epochs) {
      log(`--resume: epochs ${cfg.epochs} → ${options.epochs}`);
      cfg = { ...cfg, epochs: options.epochs };
    }
    if (options.threads !== undefined) cfg = { ...cfg, threads: options.threads };
    if (options.workers !== undefined) cfg = { ...cfg, workers: options.workers };
    if (options.logEvery !== undefined) cfg = { ...cfg, logEvery: options.logEvery };
    const d = cfg.dataset;
    splits = await openSplits({ name: d.name, data: options.data ? resolve(options.data) : d.data, valData: options.valData ? resolve(options.valData) : d.valData, limitTrain: d.limitTrain, limitTest: d.limitTest, valHoldout: d.valHoldout, seed: cfg.seed }, log);
    if (splits.train.size !== d.trainSize) throw new OptionError(`--resume: the training set has ${splits.train.size} images, the checkpoint was trained on ${d.trainSize}`);
    model = new GoogLeNet(resolveConfig(cfg.model), cfg.threads ? { threads: cfg.threads } : {}, new Map());
    model.loadStateDict(stateDictOf(ckpt.weights, ckpt.shapes, model), ckptPath);
  } else {
    if (existsSync(ckptPath)) throw new OptionError(`--out: ${out} already holds a run (checkpoint.safetensors); pass --resume to continue it, or choose another folder`);
    ({ cfg, model, splits } = await setUp(options, log));
  }
  model.labels = [...cfg.dataset.info.classes];
  model.preprocess = { resize: cfg.transform.eval.resize, crop: cfg.transform.eval.inputSize, mean: [...cfg.transform.eval.mean], std: [...cfg.transform.eval.std] };
  const schedule = scheduleOf(cfg);
  mkdirSync(out, { recursive: true });
  if (!ckpt) writeAtomic(join(out, 'run.json'), new TextEncoder().encode(JSON.stringify({ command: process.argv.slice(1), started: new Date().toISOString(), config: cfg }, null, 2) + '\n'));

  const metrics = new MetricsLog(join(out, 'metrics.jsonl'));
  let pos: TrainPosition = ckpt ? { ...ckpt.position } : { epoch: 0, batch: 0, step: 0 };
  if (ckpt) metrics.truncateAfter(pos.step);
  let best: BestRecord | null = ckpt?.best ?? null;
  const loopState = ckpt?.loop as LoopState | undefined;
  let lastCheckpointStep: number | null = ckpt ? ckpt.position.step : null;
  const rng = ckpt ? Rng.fromState(ckpt.rng) : new Rng(cfg.seed);
  let ema: Ema | null = null;
  if (cfg.ema) ema = ckpt?.ema ? Ema.fromState(ckpt.ema) : new Ema(model.weights, { decay: cfg.ema.decay });

  const makeStep = hooks.createStep ?? ((m: GoogLeNet, so: TrainStepOptions) => createTrainStep(m, so));
  const stepper = makeStep(model, stepOptions(cfg));
  if (ckpt) stepper.loadOptimizerState(ckpt.optimizer as OptimizerState);

  const loader = new DataLoader(splits.train, {
    batchSize: cfg.batchSize,
    transform: cfg.transform.train,
    seed: cfg.seed,
    shuffle: true,
    dropLast: splits.train.size >= cfg.batchSize,
    workers: cfg.workers,
    onWarning: log,
  });
  const val = splits.val;
  const spe = loader.numBatches;
  if (spe !== cfg.stepsPerEpoch) throw new Error(`internal: ${spe} batches per epoch, the config says ${cfg.stepsPerEpoch}`);

  const epochMean = new RunningMean();
  const windowMean = new RunningMean();
  const epochRaw = { lossSum: loopState?.epochLossSum ?? 0, correct: loopState?.epochCorrect ?? 0, seen: loopState?.epochSeen ?? 0 };
  let elapsedBefore = loopState?.elapsed ?? 0;
  const runStart = now();
  let last: EpochRecord | null = null;
  let finalMetrics: EvalMetrics | null = null;
  let confusionFiles: string[] = [];
  let plots: string[] = [];
  const totalSteps = cfg.epochs * spe;

  log(
    ckpt
      ? `resuming ${out} at epoch ${pos.epoch + 1}, batch ${pos.batch}/${spe} (step ${pos.step} of ${totalSteps})`
      : `training ${cfg.model.preset} (width ${cfg.model.width}, ${model.numParams().toLocaleString('en-US')} parameters, ${cfg.model.inChannels}×${cfg.model.inputSize}×${cfg.model.inputSize}) on ${cfg.dataset.name}: ${cfg.dataset.trainSize} training / ${cfg.dataset.valSize} validation images, ${cfg.epochs} epochs × ${spe} steps of ${cfg.batchSize}, ${cfg.optimizer.type} lr ${cfg.optimizer.lr} (${cfg.schedule.type}) → ${out}`,
  );

  const saveCkpt = (p: TrainPosition): void => {
    stepperSync();
    const loop: LoopState = { epochLossSum: epochRaw.lossSum, epochCorrect: epochRaw.correct, epochSeen: epochRaw.seen, elapsed: elapsedBefore + (now() - runStart) };
    const c: Checkpoint<TrainConfig> = {
      position: p,
      rng: rng.getState(),
      config: cfg,
      loop,
      best,
      weights: model.weights,
      shapes: new Map(model.paramSpecs().map((s) => [s.name, s.shape])),
      optimizer: stepper.optimizerState(),
      ema: ema ? ema.state() : null,
    };
    saveCheckpoint(ckptPath, c, io);
    lastCheckpointStep = p.step;
  };
  let synced = true;
  const stepperSync = (): void => {
    if (!synced) {
      stepper.syncWeights();
      synced = true;
    }
  };

  // Signals: the first one stops after the current step (with a checkpoint), a second exits now.
  let stopSignal: string | null = null;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopSignal) {
      write(`\n${sig} again: exiting now; the last checkpoint ${ckptPath} is kept\n`);
      process.exit(130);
    }
    stopSignal = sig;
    log(`${sig}: stopping after this step and saving a checkpoint (send it again to exit at once)`);
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  const handleSignals = hooks.handleSignals ?? true;
  if (handleSignals) {
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  }

  // Seconds per step for the ETA: the mean over this invocation's steps after the first (which compiles).
  const pace = { since: NaN, steps: 0, first: NaN };
  let evalSeconds = 0;
  let stepsThisRun = 0;
  let status: TrainResult['status'] = 'completed';
  try {
    outer: for (let epoch = pos.epoch; epoch < cfg.epochs; epoch++) {
      const startBatch = epoch === pos.epoch ? pos.batch : 0;
      if (startBatch === 0) {
        epochRaw.lossSum = epochRaw.correct = epochRaw.seen = 0;
      }
      epochMean.reset();
      windowMean.reset();
      const tEpoch = now();
      let seenThisEpoch = 0;
      let tWindow = now();
      let windowImages = 0;
      for await (const batch of loader.epoch(epoch, { startBatch })) {
        const lr = learningRate(schedule, { step: pos.step, epoch });
        const tStep = now();
        const r = await stepper.step({ dims: batch.dims, data: batch.x }, batch.y, { lr });
        if (!Number.isFinite(r.loss)) {
          throw new TrainingDivergedError(
            `loss is ${r.loss} at epoch ${epoch + 1}, step ${pos.step + 1} (lr ${lr.toExponential(2)}); training stopped. ` +
              `${lastCheckpointStep !== null ? `The last good checkpoint ${ckptPath} (step ${lastCheckpointStep}) is unchanged.` : 'No checkpoint was written.'} Try a lower --lr or --clip-grad-norm.`,
          );
        }
        synced = false;
        const n = batch.y.length;
        const dt = now() - tStep;
        if (Number.isNaN(pace.since)) {
          pace.since = now();
          pace.first = dt;
        } else pace.steps++;
        pos = { epoch, batch: batch.batch + 1, step: pos.step + 1 };
        stepsThisRun++;
        epochRaw.lossSum += r.loss * n;
        epochRaw.correct += r.correct;
        epochRaw.seen += n;
        epochMean.add(r.loss, r.correct, n);
        windowMean.add(r.loss, r.correct, n);
        seenThisEpoch += n;
        windowImages += n;
        if (ema && pos.step % cfg.ema!.every === 0) {
          stepperSync();
          ema.update(model.weights, cfg.ema!.every);
        }
        const periodic = pos.step % cfg.logEvery === 0;
        const tNow = now();
        const imgPerSec = seenThisEpoch / Math.max(1e-9, tNow - tEpoch);
        const stepsLeft = totalSteps - pos.step;
        const secPerStep = pace.steps > 0 ? (now() - pace.since) / pace.steps : pace.first;
        const eta = stepsLeft * secPerStep + (cfg.epochs - epoch) * evalSeconds;
        if (periodic) {
          metrics.append({ type: 'step', epoch, step: pos.step, loss: windowMean.loss, acc: windowMean.acc, lr, imgPerSec: windowImages / Math.max(1e-9, tNow - tWindow), time: elapsedBefore + (tNow - runStart) });
          windowMean.reset();
          tWindow = tNow;
          windowImages = 0;
        }
        progress.update({ epoch, epochs: cfg.epochs, batch: pos.batch, batches: spe, step: pos.step, loss: epochMean.loss, acc: epochMean.acc, lr, imgPerSec, eta }, periodic);
        if (stopSignal || (options.maxSteps !== undefined && stepsThisRun >= options.maxSteps)) {
          saveCkpt(pos);
          log(`${stopSignal ?? '--max-steps'}: checkpoint saved at epoch ${epoch + 1}, batch ${pos.batch}/${spe} (step ${pos.step}); continue with --resume`);
          status = 'interrupted';
          break outer;
        }
      }

      // End of epoch: validate (raw and EMA), keep the best, plot, checkpoint.
      stepperSync();
      const tEval = now();
      const trainSeconds = tEval - tEpoch;
      const lr = learningRate(schedule, { step: Math.max(0, pos.step - 1), epoch });
      // Runs from initialization evaluate (and save) bias-corrected batch-norm statistics (bn.ts).
      const evalModel = cfg.from ? model : copyModel(model, biasCorrectedBatchNorm(model.graph('train'), model.weights), cfg.threads);
      const rawMetrics = val ? await evaluate(evalModel, val, { batchSize: 100 }) : null;
      let emaMetrics: EvalMetrics | null = null;
      let emaModel: GoogLeNet | null = null;
      if (ema) {
        emaModel = copyModel(model, ema.weights(), cfg.threads);
        if (val) emaMetrics = await evaluate(emaModel, val, { batchSize: 100 });
        saveModelDir(emaModel, join(out, 'ema'), { source: `googlenet-ts train: EMA (decay ${cfg.ema!.decay}) after epoch ${epoch + 1}, step ${pos.step}` });
      }
      evalSeconds = now() - tEval;
      const epochLoss = epochRaw.seen ? epochRaw.lossSum / epochRaw.seen : NaN;
      const epochAcc = epochRaw.seen ? epochRaw.correct / epochRaw.seen : NaN;
      last = {
        type: 'epoch',
        epoch,
        step: pos.step,
        loss: epochLoss,
        acc: epochAcc,
        lr,
        top1: rawMetrics?.top1 ?? null,
        top5: rawMetrics?.top5 ?? null,
        valLoss: rawMetrics?.loss ?? null,
        ...(ema ? { emaTop1: emaMetrics?.top1 ?? null, emaTop5: emaMetrics?.top5 ?? null } : {}),
        seconds: now() - tEpoch,
        imgPerSec: seenThisEpoch / Math.max(1e-9, trainSeconds),
      };
      metrics.append(last);

      // The candidate for the run folder's model: the EMA when it validates at least as well.
      const useEma = !!emaModel && (emaMetrics && rawMetrics ? emaMetrics.top1 >= rawMetrics.top1 : !rawMetrics);
      const cand = useEma ? { model: emaModel!, m: emaMetrics, which: 'ema' as const } : { model: evalModel, m: rawMetrics, which: 'raw' as const };
      const improved = cand.m !== null && (best === null || cand.m.top1 > best.top1);
      if (cfg.keep === 'last' || improved || cand.m === null) {
        saveModelDir(cand.model, out, {
          source: `googlenet-ts train: ${cand.which === 'ema' ? 'EMA weights' : 'weights'} after epoch ${epoch + 1}, step ${pos.step}${cand.m ? `, validation top-1 ${(100 * cand.m.top1).toFixed(2)}%` : ''}`,
        });
        finalMetrics = cand.m;
        if (cand.m) confusionFiles = await writeEvalFiles(out, cand.m, `${cfg.dataset.name} validation, epoch ${epoch + 1}${cand.which === 'ema' ? ' (EMA)' : ''}`);
      }
      if (improved && cand.m) best = { top1: cand.m.top1, epoch, step: pos.step, weights: cand.which };
      await emaModel?.dispose();
      if (evalModel !== model) await evalModel.dispose();
      plots = await writeTrainingPlots(out, readMetrics(metrics.path), spe, `GoogLeNet ${cfg.model.preset} ×${cfg.model.width} on ${cfg.dataset.name}`);

      pos = { epoch: epoch + 1, batch: 0, step: pos.step };
      epochRaw.lossSum = epochRaw.correct = epochRaw.seen = 0;
      saveCkpt(pos);
      const pct = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : `${(100 * v).toFixed(2)}%`);
      log(
        `epoch ${epoch + 1}/${cfg.epochs}: loss ${epochLoss.toFixed(4)} acc ${pct(epochAcc)}` +
          (rawMetrics ? ` | val top-1 ${pct(rawMetrics.top1)} top-5 ${pct(rawMetrics.top5)}` : '') +
          (ema ? ` | EMA top-1 ${pct(emaMetrics?.top1)}` : '') +
          ` | ${last.imgPerSec.toFixed(0)} img/s, ${formatDuration(last.seconds)}` +
          (best ? ` (best ${pct(best.top1)} at epoch ${best.epoch + 1}${best.weights === 'ema' ? ', EMA' : ''})` : ''),
      );
      if (!Number.isNaN(pace.since)) pace.since += now() - tEval; // the ETA's pace counts training only
      if (stopSignal) {
        status = epoch + 1 < cfg.epochs ? 'interrupted' : 'completed';
        if (status === 'interrupted') log(`${stopSignal}: stopped after epoch ${epoch + 1}; continue with --resume`);
        break;
      }
    }
  } finally {
    if (handleSignals) {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    }
    elapsedBefore += now() - runStart;
    await loader.close();
    await stepper.dispose();
    await model.dispose();
  }
  if (status === 'completed' && !finalMetrics && existsSync(join(out, 'eval.json'))) {
    finalMetrics = JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8')) as EvalMetrics;
  }
  if (!confusionFiles.length) confusionFiles = ['confusion.json', 'confusion.svg', 'confusion.png'].map((f) => join(out, f)).filter((f) => existsSync(f));
  if (!plots.length) plots = ['loss.svg', 'loss.png', 'accuracy.svg', 'accuracy.png'].map((f) => join(out, f)).filter((f) => existsSync(f));
  return {
    out,
    status,
    position: pos,
    best,
    last,
    metrics: finalMetrics,
    seconds: now() - t0,
    files: { checkpoint: ckptPath, model: out, metrics: metrics.path, plots, confusion: confusionFiles },
  };
}

/** A model with the same config, labels and preprocessing as `model` and other weights. */
function copyModel(model: GoogLeNet, weights: Map<string, Float32Array | BigInt64Array>, threads: number | null): GoogLeNet {
  const m = new GoogLeNet(model.config, { engine: model.engine, ...(threads ? { threads } : {}) }, weights);
  if (model.labels) m.labels = model.labels;
  if (model.preprocess) m.preprocess = model.preprocess;
  return m;
}

/** eval.json and confusion.{json,svg,png} of a model's validation metrics in `dir`. */
export async function writeEvalFiles(dir: string, m: EvalMetrics, title: string): Promise<string[]> {
  const enc = (x: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(x, null, 2) + '\n');
  mkdirSync(dir, { recursive: true });
  writeAtomic(join(dir, 'eval.json'), enc(m));
  writeAtomic(join(dir, 'confusion.json'), enc({ classes: m.classes, matrix: m.confusion, rows: 'true class', columns: 'predicted class' }));
  const [svg, png] = await writeSvgAndPng(join(dir, 'confusion'), confusionSvg(m.confusion, m.classes, `Confusion matrix: ${title}`));
  return [join(dir, 'confusion.json'), svg, png];
}
