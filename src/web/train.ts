/**
 * Training in the browser through the same loop as `googlenet train` (`src/train/loop.ts`): the
 * same setup, training graph (`createTrainStep`: forward, backward, loss and optimizer update as
 * one ONNX graph), loader, validation and model-directory writer, on onnxruntime-web. This module
 * only chooses the page's options and keeps the run in memory: no checkpoint files, and the
 * "published" model is the one the page downloads.
 */
import type { Dataset } from '../data/core.js';
import { evaluate } from '../eval/evaluate.js';
import type { EvalMetrics } from '../eval/metrics.js';
import type { GoogLeNetOptions } from '../models/config.js';
import type { GoogLeNet } from '../models/model.js';
import { biasCorrectedBatchNorm } from '../train/bn.js';
import type { TrainOptions } from '../train/config.js';
import { copyModel, runTraining, type RunOutcome, type StepReport, type TrainRun } from '../train/loop.js';
import { createRun, disposeRun, resolveTrainConfig, selectSplits } from '../train/setup.js';
import { modelDirFiles, type ModelDirFiles } from '../weights/model-dir.js';

export type { StepReport } from '../train/loop.js';

export interface BrowserTrainOptions {
  /** Width multiplier of the narrow GoogLeNet (cifar preset). Default 0.125. */
  width?: number;
  /** Train the two auxiliary heads too (loss weight 0.3). Default false. */
  aux?: boolean;
  batchSize?: number;
  epochs?: number;
  optimizer?: 'adam' | 'sgd';
  /** Peak learning rate (cosine schedule with a short warm-up). Default 2e-3 (adam) / 0.05 (sgd). */
  lr?: number;
  seed?: number;
}

/** What the page shows of an evaluation. */
export interface EvalReport {
  accuracy: number;
  loss: number;
  count: number;
  /** Per-class accuracy, index = class. */
  perClass: number[];
  ms: number;
}

/** The training options with defaults filled in. */
export function resolveTrainOptions(o: BrowserTrainOptions): Required<BrowserTrainOptions> {
  const optimizer = o.optimizer ?? 'adam';
  return {
    width: o.width ?? 0.125,
    aux: o.aux ?? false,
    batchSize: o.batchSize ?? 32,
    epochs: o.epochs ?? 2,
    optimizer,
    lr: o.lr ?? (optimizer === 'adam' ? 2e-3 : 0.05),
    seed: o.seed ?? 0,
  };
}

/** The architecture the page trains: GoogLeNet's CIFAR stem at 28×28, greyscale, 10 classes, narrow. */
export function trainModelOptions(o: { width: number; aux: boolean }): GoogLeNetOptions {
  return { preset: 'cifar', numClasses: 10, inChannels: 1, inputSize: 28, width: o.width, auxLogits: o.aux };
}

/** The page's run as `googlenet train` options: cosine schedule with a short warm-up, no augmentation. */
function pageTrainOptions(o: Required<BrowserTrainOptions>): TrainOptions {
  return {
    dataset: 'fashion-mnist-subset',
    out: '(in the page)',
    preset: 'cifar',
    width: o.width,
    aux: o.aux,
    batchSize: o.batchSize,
    epochs: o.epochs,
    lr: o.lr,
    ...(o.optimizer === 'sgd' ? { optimizer: 'sgd', momentum: 0.9, weightDecay: 5e-4, nesterov: true } : { optimizer: 'adam' }),
    schedule: 'cosine',
    warmupEpochs: Math.min(0.2, o.epochs / 10),
    seed: o.seed,
    padding: 0,
    flip: false,
    keep: 'last',
    workers: 0,
  };
}

/** Where the page hears from a run. */
export interface BrowserTrainSinks {
  /** After every step; awaited, so the page can draw between steps. */
  step?(r: StepReport): void | Promise<void>;
  /** After every epoch: validation on the test set. */
  epoch?(r: EvalReport, epoch: number): void;
  log?(message: string): void;
}

/** A training run of the page: start, pause (abort the signal), resume, evaluate, download. */
export class BrowserTrainer {
  readonly options: Required<BrowserTrainOptions>;

  private constructor(
    private readonly run: TrainRun,
    options: Required<BrowserTrainOptions>,
  ) {
    this.options = options;
  }

  /** Sets a run up on the training set, validating on `test` after every epoch. */
  static create(train: Dataset, test: Dataset | null, options: BrowserTrainOptions = {}): BrowserTrainer {
    const o = resolveTrainOptions(options);
    const splits = selectSplits(train, test, { limitTrain: null, limitTest: null, valHoldout: 0, seed: o.seed });
    const { cfg, model } = resolveTrainConfig(pageTrainOptions(o), splits, null, () => undefined);
    return new BrowserTrainer(createRun(cfg, model, splits), o);
  }

  get model(): GoogLeNet {
    return this.run.model;
  }
  get stepsPerEpoch(): number {
    return this.run.cfg.stepsPerEpoch;
  }
  get totalSteps(): number {
    return this.run.cfg.stepsPerEpoch * this.run.cfg.epochs;
  }
  get stepsDone(): number {
    return this.run.position.step;
  }
  get finished(): boolean {
    return this.stepsDone >= this.totalSteps;
  }

  /** Trains from where the run stands until it is finished or `signal` aborts (after the current step). */
  async train(sinks: BrowserTrainSinks = {}, signal?: AbortSignal): Promise<RunOutcome['status']> {
    const outcome = await runTraining(
      this.run,
      {
        log: (m) => sinks.log?.(m),
        step: (r) => sinks.step?.(r),
        publish: (_model, p) => {
          if (p.which === 'model' && p.metrics) sinks.epoch?.(report(p.metrics, 0), this.run.position.epoch);
        },
      },
      signal ? { signal } : {},
    );
    return outcome.status;
  }

  /**
   * The model as the page keeps it: the current weights with bias-corrected batch-norm statistics,
   * exactly what `googlenet train` saves in its run folder.
   */
  snapshot(): GoogLeNet {
    const m = this.run.model;
    return copyModel(m, biasCorrectedBatchNorm(m.graph('train'), m.weights), null);
  }

  /** Accuracy and mean cross-entropy of the current weights on `set`; `signal` stops early. */
  async evaluate(set: Dataset, o: { onProgress?: (done: number, total: number) => void; signal?: AbortSignal } = {}): Promise<EvalReport> {
    const t0 = performance.now();
    const model = this.snapshot();
    try {
      return report(await evaluate(model, set, { batchSize: 100, ...o }), performance.now() - t0);
    } finally {
      await model.dispose();
    }
  }

  /** The model directory (config.json + model.safetensors) that Node's `--model` loads. */
  files(): ModelDirFiles {
    const o = this.options;
    return modelDirFiles(this.snapshot(), {
      source: `trained in the browser on the Fashion-MNIST subset: ${this.stepsDone} steps of batch ${o.batchSize}, ${o.optimizer} lr ${o.lr}, width ${o.width}`,
    });
  }

  async dispose(): Promise<void> {
    await disposeRun(this.run);
  }
}

function report(m: EvalMetrics, ms: number): EvalReport {
  return { accuracy: m.top1, loss: m.loss, count: m.n, perClass: m.perClass.map((p) => p.accuracy ?? 0), ms };
}
