/**
 * Training in the browser on the same training graph as Node: `createTrainStep` from
 * `src/train/engine.ts` compiles forward, backward, loss and optimizer update of the model's
 * train-mode graph into one ONNX graph, which onnxruntime-web runs here exactly as
 * onnxruntime-node runs it there. This module only feeds it batches of the embedded
 * Fashion-MNIST subset, evaluates, and packs the result as a model directory.
 */
import { topK } from '../infer/classifier.js';
import { epochOrder } from '../data/batch.js';
import { GoogLeNet } from '../models/model.js';
import type { GoogLeNetOptions } from '../models/config.js';
import { createTrainStep, type StepResult, type TrainStep } from '../train/engine.js';
import { learningRate, type ScheduleConfig } from '../train/schedule.js';
import type { Engine } from '../runtime/engine.js';
import { FASHION_CLASSES, FASHION_STATS, makeBatch, type ImageSet } from './fashion.js';
import { modelDirFiles } from './model-dir.js';

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
  engine?: Engine;
}

export interface StepReport extends StepResult {
  epoch: number;
  /** Steps done / total steps of the run. */
  done: number;
  total: number;
  lr: number;
  batchSize: number;
  ms: number;
}

export interface EvalReport {
  accuracy: number;
  loss: number;
  count: number;
  /** Per-class accuracy, index = class. */
  perClass: number[];
  ms: number;
}

/** The training options with defaults filled in. */
export function resolveTrainOptions(o: BrowserTrainOptions): Required<Omit<BrowserTrainOptions, 'engine'>> {
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

export class BrowserTrainer {
  readonly model: GoogLeNet;
  readonly options: Required<Omit<BrowserTrainOptions, 'engine'>>;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  private readonly trainStep: TrainStep;
  private readonly schedule: ScheduleConfig;
  private order: Int32Array = new Int32Array(0);
  private orderEpoch = -1;
  private done = 0;

  constructor(
    readonly train: ImageSet,
    options: BrowserTrainOptions = {},
  ) {
    this.options = resolveTrainOptions(options);
    const o = this.options;
    this.model = new GoogLeNet(trainModelOptions(o), { seed: o.seed, ...(options.engine ? { engine: options.engine } : {}) });
    this.model.labels = [...FASHION_CLASSES];
    this.model.preprocess = { resize: 28, crop: 28, mean: [...FASHION_STATS.mean], std: [...FASHION_STATS.std] };
    this.trainStep = createTrainStep(this.model, {
      optimizer: o.optimizer === 'adam' ? { type: 'adam', lr: o.lr } : { type: 'sgd', lr: o.lr, momentum: 0.9, weightDecay: 5e-4, nesterov: true },
      auxWeight: 0.3,
      seed: o.seed,
    });
    this.stepsPerEpoch = Math.floor(train.count / o.batchSize);
    this.totalSteps = this.stepsPerEpoch * o.epochs;
    this.schedule = { type: 'cosine', lr: o.lr, stepsPerEpoch: this.stepsPerEpoch, epochs: o.epochs, warmupEpochs: Math.min(0.2, o.epochs / 10) };
  }

  get stepsDone(): number {
    return this.done;
  }

  get finished(): boolean {
    return this.done >= this.totalSteps;
  }

  /** One optimizer step on the next batch of the epoch's shuffled order. */
  async step(): Promise<StepReport> {
    if (this.finished) throw new Error('training is finished');
    const o = this.options;
    const epoch = Math.floor(this.done / this.stepsPerEpoch);
    if (epoch !== this.orderEpoch) {
      this.order = epochOrder(this.train.count, o.seed, epoch);
      this.orderEpoch = epoch;
    }
    const k = this.done % this.stepsPerEpoch;
    const idx = this.order.subarray(k * o.batchSize, (k + 1) * o.batchSize);
    const { x, labels } = makeBatch(this.train, idx, this.model.config.inputSize);
    const lr = learningRate(this.schedule, { step: this.done });
    const t0 = performance.now();
    const r = await this.trainStep.step(x, labels, { lr });
    this.done++;
    return { ...r, epoch, done: this.done, total: this.totalSteps, lr, batchSize: idx.length, ms: performance.now() - t0 };
  }

  /** Copies the trained weights into `model` (call before evaluating or saving). */
  sync(): void {
    this.trainStep.syncWeights();
  }

  /** Accuracy and mean cross-entropy of the eval-mode model on `set` (after {@link sync}). */
  async evaluate(set: ImageSet, o: { batchSize?: number; onProgress?: (done: number, total: number) => void; shouldStop?: () => boolean } = {}): Promise<EvalReport> {
    return evaluateModel(this.model, set, o);
  }

  /** The model directory (config.json + model.safetensors) that Node's `--model` loads. */
  files(): { 'config.json': Uint8Array; 'model.safetensors': Uint8Array } {
    this.sync();
    const o = this.options;
    return modelDirFiles(this.model, {
      source: `trained in the browser on the Fashion-MNIST subset: ${this.done} steps of batch ${o.batchSize}, ${o.optimizer} lr ${o.lr}, width ${o.width}`,
    });
  }

  async dispose(): Promise<void> {
    await this.trainStep.dispose();
    await this.model.dispose();
  }
}

/** Accuracy and mean cross-entropy of a model on an image set (inputs normalized as Fashion-MNIST). */
export async function evaluateModel(model: GoogLeNet, set: ImageSet, o: { batchSize?: number; onProgress?: (done: number, total: number) => void; shouldStop?: () => boolean } = {}): Promise<EvalReport> {
  const bs = o.batchSize ?? 100;
  const t0 = performance.now();
  const k = model.config.numClasses;
  let correct = 0;
  let lossSum = 0;
  let count = 0;
  const hit = new Array<number>(k).fill(0);
  const seen = new Array<number>(k).fill(0);
  const stats = model.preprocess ? { mean: model.preprocess.mean, std: model.preprocess.std } : FASHION_STATS;
  for (let start = 0; start < set.count; start += bs) {
    if (o.shouldStop?.()) break;
    const idx = Int32Array.from({ length: Math.min(bs, set.count - start) }, (_, i) => start + i);
    const { x, labels } = makeBatch(set, idx, model.config.inputSize, stats);
    const logits = (await model.forward(x)).logits;
    const probs = topK(logits, k);
    for (let i = 0; i < idx.length; i++) {
      const y = Number(labels[i]);
      const row = probs[i]!;
      const pred = row[0]!.index;
      const py = row.find((p) => p.index === y)!.probability;
      lossSum += -Math.log(Math.max(py, 1e-12));
      seen[y]!++;
      if (pred === y) {
        correct++;
        hit[y]!++;
      }
    }
    count += idx.length;
    o.onProgress?.(count, set.count);
  }
  return { accuracy: count ? correct / count : 0, loss: count ? lossSum / count : 0, count, perClass: hit.map((h, i) => (seen[i] ? h / seen[i]! : 0)), ms: performance.now() - t0 };
}
