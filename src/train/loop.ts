/**
 * The training loop, one for Node and the browser (the shape of nanoGPT's `train.py`):
 *
 *   for each epoch:
 *     for each batch:  step → record → maybe stop (checkpoint)
 *     end of epoch:    validate → select (best or last, raw or EMA) → publish → checkpoint
 *
 * Everything that touches the outside goes through {@link TrainSinks}: log lines, per-step
 * reports (Node draws a progress bar, the page a chart), metrics records, publishing the model,
 * checkpoints. Node's sinks write a run folder (`train-node.ts`); the page keeps the model
 * in memory. Stopping is an `AbortSignal` (the CLI aborts on SIGINT/SIGTERM, the page on Pause);
 * this module installs no signal handler and never exits the process.
 *
 * Determinism: data order, augmentation and dropout are functions of the seed and the position
 * (epoch, batch, step), so a run stopped at any step and continued from its checkpoint ends with
 * the same weights as an uninterrupted one.
 */
import type { Batch } from '../data/loader.js';
import type { Dataset } from '../data/core.js';
import { TrainingDivergedError } from '../errors.js';
import { evaluate } from '../eval/evaluate.js';
import type { EvalMetrics } from '../eval/metrics.js';
import type { Weights } from '../graph/lower.js';
import { GoogLeNet } from '../models/model.js';
import type { Rng } from '../rng.js';
import type { Tensor } from '../tensor.js';
import { biasCorrectedBatchNorm } from './bn.js';
import type { BestRecord, Checkpoint, TrainPosition } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import type { Ema } from './ema.js';
import type { OptimizerState, TrainStepOptions } from './engine.js';
import { RunningMean, type EpochRecord, type MetricsRecord } from './metrics.js';
import { Clock, now } from './clock.js';
import { formatDuration } from './progress.js';
import { learningRate, type ScheduleConfig } from './schedule.js';

/**
 * What the loop needs of a training step (the engine's `TrainStep`; tests substitute their own).
 * A step owns the weights it trains and keeps `model.weights` current: the engine's writes them in
 * when they are read, so the loop reads `model.weights` and never syncs by hand.
 */
export interface TrainStepLike {
  step(x: Tensor, y: Int32Array, o: { lr: number }): Promise<{ loss: number; correct: number }>;
  optimizerState(): OptimizerState;
  loadOptimizerState(s: OptimizerState): void;
  dispose(): void | Promise<void>;
  /** Refuses a batch size whose step cannot fit in memory (see `TrainStep.checkMemory`). */
  checkMemory?(batch: number, what: string): void;
}

export type StepFactory = (model: GoogLeNet, options: TrainStepOptions) => TrainStepLike;

/** Where batches come from (the `DataLoader`). */
interface BatchSource {
  readonly numBatches: number;
  /** The batches of `epoch` from `startBatch` on; resuming at batch k yields batches k… of the full epoch. */
  epoch(epoch: number, options?: { startBatch?: number }): AsyncIterable<Batch>;
  close(): Promise<void>;
}

/** Sums over the current epoch, checkpointed so that a resumed epoch reports whole-epoch means. */
interface EpochSums {
  lossSum: number;
  correct: number;
  seen: number;
}

/** A run: what it trains, with what, and where it stands (`setup.ts` makes one). */
export interface TrainRun {
  readonly cfg: TrainConfig;
  readonly model: GoogLeNet;
  readonly stepper: TrainStepLike;
  readonly loader: BatchSource;
  readonly val: Dataset | null;
  readonly schedule: ScheduleConfig;
  /** The loop's own generator; its state is checkpointed. */
  readonly rng: Rng;
  readonly ema: Ema | null;
  /** The next step to take. */
  position: TrainPosition;
  best: BestRecord | null;
  sums: EpochSums;
  /** Training seconds of earlier invocations. */
  elapsed: number;
  /** Step of the last checkpoint written (or resumed from), null before the first. */
  lastCheckpointStep: number | null;
  /** Whether the exploding-loss warning was given (once per run). */
  warnedExploding?: boolean;
}

/** The state the loop reports after every step. */
export interface StepReport {
  epoch: number;
  epochs: number;
  /** Batches done in this epoch, of `batches`. */
  batch: number;
  batches: number;
  /** Steps done since the start of the run, of `totalSteps`. */
  step: number;
  totalSteps: number;
  /** This step's loss and correct predictions, of `batchSize`. */
  loss: number;
  correct: number;
  batchSize: number;
  /** Means over this invocation's part of the epoch. */
  epochLoss: number;
  epochAcc: number;
  lr: number;
  imgPerSec: number;
  /** Seconds left (training and evaluation), NaN while unknown. */
  eta: number;
  /** Seconds this step took. */
  seconds: number;
}

/** A model the run publishes after an epoch: its model (`model`: best or last) or the EMA of its weights (`ema`). */
interface Publication {
  which: 'model' | 'ema';
  /** Provenance, saved with the model ("weights after epoch 3, step 90, validation top-1 91.2%"). */
  source: string;
  /** Its validation metrics, when there is a validation set. */
  metrics: EvalMetrics | null;
  /** A title for plots of those metrics. */
  title: string;
}

/** Where a run's outputs go. Every member is optional but `log`. */
export interface TrainSinks {
  log(message: string): void;
  /** After every step; `periodic` every `logEvery` steps. Awaited, so a page can let its UI draw. */
  step?(r: StepReport, periodic: boolean): void | Promise<void>;
  /** A metrics record (a step window or an epoch). */
  record?(r: MetricsRecord): void;
  /** A model to keep (Node: the run folder and its `ema/`). */
  publish?(model: GoogLeNet, p: Publication): void | Promise<void>;
  /** After the epoch's record and publications (Node: the plots). */
  epochEnd?(r: EpochRecord): void | Promise<void>;
  /** Saves checkpoints; `name` says where, for messages. */
  checkpoint?: { name: string; save(c: Checkpoint<TrainConfig>): void | Promise<void> };
}

export interface RunOptions {
  /** Stops after the current step with a checkpoint; its `reason` (e.g. 'SIGINT') names the stop in the log. */
  signal?: AbortSignal;
  /** Stops after this many steps of this invocation, with a checkpoint (tests, benchmarks). */
  maxSteps?: number;
}

export interface RunOutcome {
  status: 'completed' | 'interrupted';
  /** The last epoch's record of this invocation. */
  last: EpochRecord | null;
  /** Validation metrics of the last model published as `model`, in this invocation. */
  published: EvalMetrics | null;
}

/** Trains `run` from its position to its last epoch, or until stopped. */
export async function runTraining(run: TrainRun, sinks: TrainSinks, options: RunOptions = {}): Promise<RunOutcome> {
  const clock = new Clock(run.elapsed);
  const outcome: RunOutcome = { status: 'completed', last: null, published: null };
  let stepsThisRun = 0;
  for (let epoch = run.position.epoch; epoch < run.cfg.epochs; epoch++) {
    const startBatch = epoch === run.position.epoch ? run.position.batch : 0;
    if (startBatch === 0) run.sums = { lossSum: 0, correct: 0, seen: 0 };
    const meter = new EpochMeter();
    for await (const batch of run.loader.epoch(epoch, { startBatch })) {
      const r = await trainStep(run, batch, epoch, sinks);
      meter.add(r);
      stepsThisRun++;
      await report(run, sinks, clock, meter, r);
      const stop = stopReason(options, stepsThisRun);
      if (stop) {
        await saveCheckpoint(run, sinks, clock);
        sinks.log(
          `${stop}: checkpoint saved at epoch ${epoch + 1}, batch ${run.position.batch}/${run.loader.numBatches} (step ${run.position.step}); continue with --resume`,
        );
        return { ...outcome, status: 'interrupted' };
      }
    }
    const tEval = now();
    const end = await endOfEpoch(run, sinks, clock, epoch, meter);
    outcome.last = end.record;
    if (end.published) outcome.published = end.published;
    clock.pauseFor(now() - tEval);
    if (options.signal?.aborted) {
      if (epoch + 1 < run.cfg.epochs) {
        sinks.log(`${reasonOf(options.signal)}: stopped after epoch ${epoch + 1}; continue with --resume`);
        return { ...outcome, status: 'interrupted' };
      }
      break;
    }
  }
  return outcome;
}

function reasonOf(signal: AbortSignal): string {
  return typeof signal.reason === 'string' ? signal.reason : 'stopped';
}

function stopReason(o: RunOptions, stepsThisRun: number): string | null {
  if (o.signal?.aborted) return reasonOf(o.signal);
  if (o.maxSteps !== undefined && stepsThisRun >= o.maxSteps) return '--max-steps';
  return null;
}

/** One optimizer step on one batch; folds the weights into the EMA when due. */
async function trainStep(run: TrainRun, batch: Batch, epoch: number, sinks: TrainSinks): Promise<StepResultIn> {
  const lr = learningRate(run.schedule, { step: run.position.step, epoch });
  const t0 = now();
  const r = await run.stepper.step({ dims: batch.dims, data: batch.x }, batch.y, { lr });
  if (!Number.isFinite(r.loss)) {
    const where = lastCheckpoint(run, sinks);
    throw new TrainingDivergedError(
      `loss is ${r.loss} at epoch ${epoch + 1}, step ${run.position.step + 1} (lr ${lr.toExponential(2)}); training stopped. ${where} Try a lower --lr or --clip-grad-norm.`,
    );
  }
  // Cross-entropy starts near ln(classes); far above it the run is blowing up even while finite.
  const limit = 100 * Math.max(1, Math.log(run.cfg.model.numClasses));
  if (r.loss > limit && !run.warnedExploding) {
    run.warnedExploding = true;
    const k = run.cfg.model.numClasses;
    const start = `it starts near ln(${k}) = ${Math.log(k).toFixed(2)}`;
    sinks.log(
      `warning: the loss is ${r.loss.toExponential(2)} at step ${run.position.step + 1} (${start}): training is diverging; try a lower --lr (now ${lr.toExponential(2)}) or --clip-grad-norm`,
    );
  }
  const n = batch.y.length;
  run.position = { epoch, batch: batch.batch + 1, step: run.position.step + 1 };
  run.sums.lossSum += r.loss * n;
  run.sums.correct += r.correct;
  run.sums.seen += n;
  const ema = run.cfg.ema;
  if (run.ema && ema && run.position.step % ema.every === 0) run.ema.update(run.model.weights, ema.every);
  return { loss: r.loss, correct: r.correct, n, lr, seconds: now() - t0 };
}

interface StepResultIn {
  loss: number;
  correct: number;
  n: number;
  lr: number;
  seconds: number;
}

/** Means over this invocation's part of an epoch (the bar) and over the current logging window (step records). */
class EpochMeter {
  readonly epoch = new RunningMean();
  readonly window = new RunningMean();
  readonly start = now();
  windowStart = now();
  images = 0;
  windowImages = 0;

  add(r: StepResultIn): void {
    this.epoch.add(r.loss, r.correct, r.n);
    this.window.add(r.loss, r.correct, r.n);
    this.images += r.n;
    this.windowImages += r.n;
  }
}

/** The step record (every `logEvery` steps) and the per-step report. */
async function report(run: TrainRun, sinks: TrainSinks, clock: Clock, meter: EpochMeter, r: StepResultIn): Promise<void> {
  const { cfg, position } = run;
  const batches = run.loader.numBatches;
  const totalSteps = cfg.epochs * batches;
  const secPerStep = clock.step(r.seconds);
  const t = now();
  const periodic = position.step % cfg.logEvery === 0;
  if (periodic) {
    const w = meter.window;
    sinks.record?.({
      type: 'step',
      epoch: position.epoch,
      step: position.step,
      loss: w.loss,
      acc: w.acc,
      lr: r.lr,
      imgPerSec: meter.windowImages / Math.max(1e-9, t - meter.windowStart),
      time: clock.elapsed(),
    });
    w.reset();
    meter.windowStart = t;
    meter.windowImages = 0;
  }
  await sinks.step?.(
    {
      epoch: position.epoch,
      epochs: cfg.epochs,
      batch: position.batch,
      batches,
      step: position.step,
      totalSteps,
      loss: r.loss,
      correct: r.correct,
      batchSize: r.n,
      epochLoss: meter.epoch.loss,
      epochAcc: meter.epoch.acc,
      lr: r.lr,
      imgPerSec: meter.images / Math.max(1e-9, t - meter.start),
      eta: (totalSteps - position.step) * secPerStep + (cfg.epochs - position.epoch) * clock.evalSeconds,
      seconds: r.seconds,
    },
    periodic,
  );
}

/** Where the last checkpoint stands, for a message about stopping. */
function lastCheckpoint(run: TrainRun, sinks: TrainSinks): string {
  return sinks.checkpoint && run.lastCheckpointStep !== null
    ? `The last good checkpoint ${sinks.checkpoint.name} (step ${run.lastCheckpointStep}) is unchanged.`
    : 'No checkpoint was written.';
}

/** The first float tensor holding NaN or ±Infinity, or null. */
function firstNonFinite(weights: Weights): string | null {
  for (const [k, v] of weights) {
    if (!(v instanceof Float32Array)) continue;
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) return k;
  }
  return null;
}

/**
 * Stops a run whose weights or batch-norm statistics went NaN/Inf while the loss stayed finite
 * (SGD at lr 1e6 fills running_var with Inf): such weights are never validated, published or
 * checkpointed, so "the last good checkpoint" is always finite.
 */
function checkFiniteWeights(run: TrainRun, sinks: TrainSinks): void {
  const bad = firstNonFinite(run.model.weights) ?? (run.ema ? firstNonFinite(run.ema.weights()) : null);
  if (bad === null) return;
  throw new TrainingDivergedError(
    `"${bad}" holds NaN or Infinity after step ${run.position.step}; training stopped. ${lastCheckpoint(run, sinks)} Try a lower --lr or --clip-grad-norm.`,
  );
}

async function saveCheckpoint(run: TrainRun, sinks: TrainSinks, clock: Clock): Promise<void> {
  if (!sinks.checkpoint) return;
  checkFiniteWeights(run, sinks);
  const { model } = run;
  await sinks.checkpoint.save({
    position: run.position,
    rng: run.rng.getState(),
    config: run.cfg,
    loop: { epochLossSum: run.sums.lossSum, epochCorrect: run.sums.correct, epochSeen: run.sums.seen, elapsed: clock.elapsed() },
    best: run.best,
    weights: model.weights,
    shapes: new Map(model.paramSpecs().map((s) => [s.name, s.shape])),
    optimizer: run.stepper.optimizerState(),
    ema: run.ema ? run.ema.state() : null,
  });
  run.lastCheckpointStep = run.position.step;
}

/** Validation metrics of the raw weights and of their EMA, with the models evaluated. */
interface Validation {
  raw: { model: GoogLeNet; metrics: EvalMetrics | null };
  ema: { model: GoogLeNet; metrics: EvalMetrics | null } | null;
}

/**
 * Evaluates the weights (bias-corrected batch-norm statistics for runs from initialization, see
 * `bn.ts`) and their EMA on the validation set.
 */
async function validate(run: TrainRun): Promise<Validation> {
  const { model, cfg, val } = run;
  const rawModel = cfg.from ? model : copyModel(model, biasCorrectedBatchNorm(model.graph('train'), model.weights), cfg.threads);
  const out: Validation = { raw: { model: rawModel, metrics: val ? await evaluate(rawModel, val, { batchSize: 100 }) : null }, ema: null };
  if (run.ema) {
    const emaModel = copyModel(model, run.ema.weights(), cfg.threads);
    out.ema = { model: emaModel, metrics: val ? await evaluate(emaModel, val, { batchSize: 100 }) : null };
  }
  return out;
}

/** The run's model after this epoch: the EMA when it validates at least as well, else the raw weights. */
function select(v: Validation): { model: GoogLeNet; metrics: EvalMetrics | null; which: 'raw' | 'ema' } {
  const { raw, ema } = v;
  const useEma = !!ema && (ema.metrics && raw.metrics ? ema.metrics.top1 >= raw.metrics.top1 : !raw.metrics);
  return useEma ? { ...ema, which: 'ema' } : { ...raw, which: 'raw' };
}

/** End of an epoch: validate → record → select → publish → checkpoint → log. */
async function endOfEpoch(
  run: TrainRun,
  sinks: TrainSinks,
  clock: Clock,
  epoch: number,
  meter: EpochMeter,
): Promise<{ record: EpochRecord; published: EvalMetrics | null }> {
  const { cfg } = run;
  checkFiniteWeights(run, sinks);
  const tEval = now();
  const v = await validate(run);
  const step = run.position.step;
  clock.evalSeconds = now() - tEval;
  const record: EpochRecord = {
    type: 'epoch',
    epoch,
    step,
    loss: run.sums.seen ? run.sums.lossSum / run.sums.seen : NaN,
    acc: run.sums.seen ? run.sums.correct / run.sums.seen : NaN,
    lr: learningRate(run.schedule, { step: Math.max(0, step - 1), epoch }),
    top1: v.raw.metrics?.top1 ?? null,
    top5: v.raw.metrics?.top5 ?? null,
    valLoss: v.raw.metrics?.loss ?? null,
    ...(v.ema ? { emaTop1: v.ema.metrics?.top1 ?? null, emaTop5: v.ema.metrics?.top5 ?? null } : {}),
    seconds: now() - meter.start,
    imgPerSec: meter.images / Math.max(1e-9, tEval - meter.start),
  };
  if (v.ema)
    await sinks.publish?.(v.ema.model, {
      which: 'ema',
      source: `googlenet-ts train: EMA (decay ${cfg.ema!.decay}) after epoch ${epoch + 1}, step ${step}`,
      metrics: v.ema.metrics,
      title: '',
    });
  sinks.record?.(record);
  const cand = select(v);
  const improved = cand.metrics !== null && (run.best === null || cand.metrics.top1 > run.best.top1);
  let published: EvalMetrics | null = null;
  if (cfg.keep === 'last' || improved || cand.metrics === null) {
    const top1 = cand.metrics ? `, validation top-1 ${(100 * cand.metrics.top1).toFixed(2)}%` : '';
    await sinks.publish?.(cand.model, {
      which: 'model',
      source: `googlenet-ts train: ${cand.which === 'ema' ? 'EMA weights' : 'weights'} after epoch ${epoch + 1}, step ${step}${top1}`,
      metrics: cand.metrics,
      title: `${cfg.dataset.name} validation, epoch ${epoch + 1}${cand.which === 'ema' ? ' (EMA)' : ''}`,
    });
    published = cand.metrics;
  }
  if (improved && cand.metrics) run.best = { top1: cand.metrics.top1, epoch, step, weights: cand.which };
  await v.ema?.model.dispose();
  if (v.raw.model !== run.model) await v.raw.model.dispose();
  await sinks.epochEnd?.(record);
  run.position = { epoch: epoch + 1, batch: 0, step };
  run.sums = { lossSum: 0, correct: 0, seen: 0 };
  await saveCheckpoint(run, sinks, clock);
  sinks.log(epochLine(run, record));
  return { record, published };
}

function epochLine(run: TrainRun, r: EpochRecord): string {
  const pct = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : `${(100 * v).toFixed(2)}%`);
  const { best, cfg } = run;
  return (
    `epoch ${r.epoch + 1}/${cfg.epochs}: loss ${r.loss.toFixed(4)} acc ${pct(r.acc)}` +
    (r.top1 !== null ? ` | val top-1 ${pct(r.top1)} top-5 ${pct(r.top5)}` : '') +
    (run.ema ? ` | EMA top-1 ${pct(r.emaTop1)}` : '') +
    ` | ${r.imgPerSec.toFixed(0)} img/s, ${formatDuration(r.seconds)}` +
    (best ? ` (best ${pct(best.top1)} at epoch ${best.epoch + 1}${best.weights === 'ema' ? ', EMA' : ''})` : '')
  );
}

/** A model with the same config, labels and preprocessing as `model` and other weights. */
export function copyModel(model: GoogLeNet, weights: Weights, threads: number | null): GoogLeNet {
  const m = new GoogLeNet(model.config, { engine: model.engine, ...(threads ? { threads } : {}) }, weights);
  if (model.labels) m.labels = model.labels;
  if (model.preprocess) m.preprocess = model.preprocess;
  return m;
}
