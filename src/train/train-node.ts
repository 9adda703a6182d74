/**
 * `train(options)` in Node: opens the datasets from files, starts or resumes the run in its
 * folder, and runs the loop (`loop.ts`) with sinks that write the run folder `out`:
 *
 *   checkpoint.safetensors   weights, optimizer state, EMA, position, RNG state, the whole config
 *   config.json + model.safetensors   the best model by validation top-1 (or the last: `keep`),
 *                            so `out` itself is a model directory for predict/eval/export
 *   ema/                     the EMA weights as a model directory (with `ema`)
 *   metrics.jsonl, loss.{svg,png}, accuracy.{svg,png}
 *   eval.json, confusion.{json,svg,png}   validation metrics of the run folder's model
 *   run.json                 the resolved config and the command line
 *
 *   const r = await train({ dataset: 'fashion-mnist-subset', out: 'runs/demo', preset: 'cifar', width: 0.25, epochs: 3 });
 *
 * A checkpoint is written after every epoch and when `signal` aborts (after the current step).
 * A NaN or infinite loss stops the run without writing, so the last good checkpoint stays as it was.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openDataset, type Dataset } from '../data/dataset-node.js';
import { WorkerPool } from '../data/loader-node.js';
import { OptionError } from '../errors.js';
import { writeEvalFiles } from '../eval/files-node.js';
import type { EvalMetrics } from '../eval/metrics.js';
import { makeDir, removeOrphanedTemps, writeFileAtomic, type FileIo } from '../files-node.js';
import { resolveConfig } from '../models/config.js';
import { GoogLeNet, type StateTensor } from '../models/model.js';
import { resolveWeights } from '../weights/hub-node.js';
import { importWeights, loadModelDir, saveModelDir } from '../weights/model-dir-node.js';
import type { BestRecord, Checkpoint, TrainPosition } from './checkpoint.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint-node.js';
import { validateTrainOptions, type TrainConfig, type TrainOptions } from './config.js';
import { runTraining, type RunOutcome, type StepFactory, type TrainRun, type TrainSinks } from './loop.js';
import type { EpochRecord } from './metrics.js';
import { MetricsLog, readMetrics } from './metrics-node.js';
import { writeTrainingPlots } from './plot-node.js';
import { Progress, type ProgressMode } from './progress.js';
import { createRun, disposeRun, resolveTrainConfig, resumedConfig, selectSplits, type Splits } from './setup.js';

export interface TrainHooks {
  /** 'auto' (default): a bar when stderr is a terminal, plain lines otherwise. */
  progress?: ProgressMode | 'auto';
  /** Where progress and log lines go. Default: process.stderr. */
  write?: (s: string) => void;
  /** The training step. Default: the engine's `createTrainStep`. */
  createStep?: StepFactory;
  /** Stops the run after the current step, with a checkpoint; its reason ('SIGINT') names the stop in the log. */
  signal?: AbortSignal;
  /** File-system calls of checkpoint writes (tests make them fail). */
  checkpointIo?: FileIo;
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

const now = (): number => performance.now() / 1000;

/** Trains (or resumes) a run; see the module comment for what lands in `out`. */
export async function train(options: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const t0 = now();
  validateTrainOptions(options);
  const write = hooks.write ?? ((s: string) => void process.stderr.write(s));
  const mode: ProgressMode =
    hooks.progress === undefined || hooks.progress === 'auto' ? (process.stderr.isTTY ? 'tty' : 'plain') : hooks.progress;
  const progress = new Progress(mode, write);
  const log = (m: string): void => progress.line(m);
  const folder = new RunFolder(resolve(options.out), hooks.checkpointIo);
  const run = options.resume ? await folder.resume(options, log, hooks) : await folder.start(options, log, hooks);
  let outcome: RunOutcome;
  try {
    outcome = await runTraining(run, folder.sinks(run, progress), {
      ...(hooks.signal ? { signal: hooks.signal } : {}),
      ...(options.maxSteps !== undefined ? { maxSteps: options.maxSteps } : {}),
    });
  } finally {
    await disposeRun(run);
  }
  return folder.result(run, outcome, now() - t0);
}

/** Opens the training and validation splits from files and applies the limits. */
async function openSplits(
  d: {
    name: TrainConfig['dataset']['name'];
    data: string | null;
    valData: string | null;
    limitTrain: number | null;
    limitTest: number | null;
    valHoldout: number;
  },
  seed: number,
  warn: (m: string) => void,
): Promise<Splits> {
  const base = { name: d.name, ...(d.data ? { data: d.data } : {}), ...(d.valData ? { valData: d.valData } : {}), onWarning: warn };
  const train = await openDataset({ ...base, split: 'train' });
  let test: Dataset | null = null;
  if (d.valHoldout === 0) {
    try {
      test = await openDataset({ ...base, split: 'test' });
    } catch (e) {
      if (!(e instanceof OptionError && /no validation split/.test(e.message))) throw e;
      warn(`${d.name}: no validation split, so no per-epoch validation (pass --val-data or --val-holdout N)`);
    }
  }
  return selectSplits(train, test, { ...d, seed });
}

/**
 * The pretrained model of `--from`: a model directory, a torchvision weight file, an http(s) URL
 * or a registry name (downloaded into the weights cache; the entry's options apply unless the
 * `from*` options say otherwise).
 */
async function loadFrom(
  o: TrainOptions,
  log: (m: string) => void,
): Promise<{ model: GoogLeNet; source: NonNullable<TrainConfig['from']> }> {
  const r = await resolveWeights(o.from!, { option: '--from', progress: 'plain', log });
  const path = r.path;
  if (!existsSync(path))
    throw new OptionError(`--from: ${path} does not exist (expected a model directory or a .pth/.safetensors file)`, { option: '--from' });
  const create = { ...(o.threads ? { threads: o.threads } : {}), ...(o.device ? { device: o.device } : {}) };
  const entry = r.entry?.options ?? {};
  const source = {
    path: resolve(path),
    preset: o.fromPreset ?? entry.preset ?? 'torchvision',
    numClasses: o.fromNumClasses ?? entry.numClasses ?? 1000,
    transformInput: o.fromTransformInput ?? entry.transformInput ?? false,
  };
  if (statSync(path).isDirectory()) return { model: loadModelDir(path, create), source };
  return {
    model: importWeights(
      path,
      { preset: source.preset, numClasses: source.numClasses, transformInput: source.transformInput, auxLogits: !!o.aux },
      create,
    ),
    source,
  };
}

/** Runs `write`; a failure is a warning (the run and its checkpoint go on), not the end of the run. */
async function bestEffort(what: string, log: (m: string) => void, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (e) {
    log(`warning: could not write ${what} (${(e as Error).message.split('\n')[0]}); training goes on`);
  }
}

/** A checkpoint's weights as a state dict of `model`'s shapes. */
function stateDictOf(c: Checkpoint, model: GoogLeNet): Map<string, StateTensor> {
  const want = new Map(model.paramSpecs().map((p) => [p.name, p.shape]));
  const sd = new Map<string, StateTensor>();
  for (const [k, v] of c.weights) sd.set(k, { dims: [...(c.shapes?.get(k) ?? want.get(k) ?? [v.length])], data: v });
  return sd;
}

/** The run folder: where a run starts or resumes, and the sinks that write it. */
class RunFolder {
  readonly checkpoint: string;
  readonly metrics: MetricsLog;

  constructor(
    readonly out: string,
    private readonly io: FileIo | undefined,
  ) {
    this.checkpoint = join(out, 'checkpoint.safetensors');
    this.metrics = new MetricsLog(join(out, 'metrics.jsonl'));
  }

  /** A new run: resolves the options against the data, writes run.json. */
  async start(o: TrainOptions, log: (m: string) => void, hooks: TrainHooks): Promise<TrainRun> {
    if (existsSync(this.checkpoint))
      throw new OptionError(
        `--out: ${this.out} already holds a run (checkpoint.safetensors); pass --resume to continue it, or choose another folder`,
        { option: '--out' },
      );
    const d = {
      name: o.dataset,
      data: o.data ? resolve(o.data) : null,
      valData: o.valData ? resolve(o.valData) : null,
      limitTrain: o.limitTrain ?? null,
      limitTest: o.limitTest ?? null,
      valHoldout: o.valHoldout ?? 0,
    };
    const splits = await openSplits(d, o.seed ?? 0, log);
    const from = o.from ? await loadFrom(o, log) : null;
    const { data: _d, valData: _v, ...rest } = o;
    const { cfg, model } = resolveTrainConfig(
      { ...rest, ...(d.data ? { data: d.data } : {}), ...(d.valData ? { valData: d.valData } : {}) },
      splits,
      from,
      log,
    );
    const run = createRun(cfg, model, splits, this.runOptions(hooks, log));
    makeDir(this.out);
    writeFileAtomic(
      join(this.out, 'run.json'),
      new TextEncoder().encode(
        JSON.stringify({ command: process.argv.slice(1), started: new Date().toISOString(), config: cfg }, null, 2) + '\n',
      ),
    );
    const m = cfg.model;
    const size = `${m.inChannels}×${m.inputSize}×${m.inputSize}`;
    const steps = `${cfg.epochs} epochs × ${cfg.stepsPerEpoch} steps of ${cfg.batchSize}`;
    log(
      `training ${m.preset} (width ${m.width}, ${model.numParams().toLocaleString('en-US')} parameters, ${size}) on ${cfg.dataset.name}: ` +
        `${cfg.dataset.trainSize} training / ${cfg.dataset.valSize} validation images, ${steps}, ` +
        `${cfg.optimizer.type} lr ${cfg.optimizer.lr} (${cfg.schedule.type}) → ${this.out}`,
    );
    return run;
  }

  /** A run continued from its checkpoint, at the exact step. */
  async resume(o: TrainOptions, log: (m: string) => void, hooks: TrainHooks): Promise<TrainRun> {
    if (!existsSync(this.checkpoint))
      throw new OptionError(`--resume: no checkpoint at ${this.checkpoint} (drop --resume to start a new run)`, { option: '--resume' });
    for (const d of [this.out, join(this.out, 'ema')]) {
      const removed = removeOrphanedTemps(d);
      if (removed.length) log(`--resume: removed ${removed.length} temporary file(s) of interrupted writes: ${removed.join(', ')}`);
    }
    const ckpt = loadCheckpoint<TrainConfig>(this.checkpoint);
    const cfg = resumedConfig(o, ckpt.config, this.checkpoint, log);
    const d = cfg.dataset;
    const splits = await openSplits(
      { ...d, data: o.data ? resolve(o.data) : d.data, valData: o.valData ? resolve(o.valData) : d.valData },
      cfg.seed,
      log,
    );
    if (splits.train.size !== d.trainSize)
      throw new OptionError(`--resume: the training set has ${splits.train.size} images, the checkpoint was trained on ${d.trainSize}`, {
        option: '--resume',
      });
    const create = { ...(cfg.threads ? { threads: cfg.threads } : {}), ...(o.device ? { device: o.device } : {}) };
    const model = new GoogLeNet(resolveConfig(cfg.model), create, new Map());
    model.loadStateDict(stateDictOf(ckpt, model), this.checkpoint);
    const run = createRun(cfg, model, splits, { ...this.runOptions(hooks, log), checkpoint: ckpt });
    this.metrics.truncateAfter(run.position.step);
    log(
      `resuming ${this.out} at epoch ${run.position.epoch + 1}, batch ${run.position.batch}/${cfg.stepsPerEpoch} (step ${run.position.step} of ${cfg.epochs * cfg.stepsPerEpoch})`,
    );
    return run;
  }

  private runOptions(hooks: TrainHooks, log: (m: string) => void): Parameters<typeof createRun>[3] {
    return {
      pool: (workers, init, onWarning) => new WorkerPool(workers, init, onWarning),
      onWarning: log,
      ...(hooks.createStep ? { createStep: hooks.createStep } : {}),
    };
  }

  /** Sinks that write this folder and draw progress. */
  sinks(run: TrainRun, progress: Progress): TrainSinks {
    const { cfg } = run;
    const log = (m: string): void => progress.line(m);
    return {
      log,
      step: (r, periodic) =>
        progress.update(
          {
            epoch: r.epoch,
            epochs: r.epochs,
            batch: r.batch,
            batches: r.batches,
            step: r.step,
            loss: r.epochLoss,
            acc: r.epochAcc,
            lr: r.lr,
            imgPerSec: r.imgPerSec,
            eta: r.eta,
          },
          periodic,
        ),
      record: (r) => this.metrics.append(r),
      publish: async (model, p) => {
        if (p.which === 'ema') {
          saveModelDir(model, join(this.out, 'ema'), { source: p.source });
          return;
        }
        saveModelDir(model, this.out, { source: p.source });
        if (p.metrics) await bestEffort('the confusion matrix', log, () => writeEvalFiles(this.out, p.metrics!, p.title));
      },
      // A plot is a picture of the metrics: failing to draw one never costs the checkpoint after it.
      epochEnd: () =>
        bestEffort('the training curves', log, () =>
          writeTrainingPlots(
            this.out,
            readMetrics(this.metrics.path),
            cfg.stepsPerEpoch,
            `GoogLeNet ${cfg.model.preset} ×${cfg.model.width} on ${cfg.dataset.name}`,
          ),
        ),
      checkpoint: { name: this.checkpoint, save: (c) => saveCheckpoint(this.checkpoint, c, this.io) },
    };
  }

  /** What `train()` returns: the outcome and the files the folder holds. */
  result(run: TrainRun, outcome: RunOutcome, seconds: number): TrainResult {
    const existing = (names: string[]): string[] => names.map((f) => join(this.out, f)).filter((f) => existsSync(f));
    let metrics = outcome.published;
    if (outcome.status === 'completed' && !metrics && existsSync(join(this.out, 'eval.json')))
      metrics = JSON.parse(readFileSync(join(this.out, 'eval.json'), 'utf8')) as EvalMetrics;
    return {
      out: this.out,
      status: outcome.status,
      position: run.position,
      best: run.best,
      last: outcome.last,
      metrics,
      seconds,
      files: {
        checkpoint: this.checkpoint,
        model: this.out,
        metrics: this.metrics.path,
        plots: existing(['loss.svg', 'loss.png', 'accuracy.svg', 'accuracy.png']),
        confusion: existing(['confusion.json', 'confusion.svg', 'confusion.png']),
      },
    };
  }
}
