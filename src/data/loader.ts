/**
 * The DataLoader: seeded per-epoch order, batching, and prefetching. Batches are prepared on the
 * main thread, or by a {@link BatchPool} when one is given — Node's `loader-node.ts` gives a pool
 * of worker threads that decode and augment in parallel. Nothing here imports Node or the DOM:
 * the browser trains through this loader too.
 *
 * Determinism: the order of epoch e is `epochOrder(size, seed, e)` and sample i's augmentation
 * uses `sampleRng(seed, e, i)`, so batch b of epoch e is a pure function of (dataset, transform,
 * batchSize, seed, e, b) — whichever worker makes it, and whether the epoch started at batch 0
 * or resumed at batch b (`loader.epoch(e, { startBatch: b })`).
 *
 * ```ts
 * const loader = new DataLoader(train, { batchSize: 64, transform: { train: true, padding: 4, flip: true }, seed: 1 });
 * for await (const { x, y } of loader.epoch(0)) { … }  // x: N×C×H×W, y: N
 * await loader.close();
 * ```
 */
import { ClosedError, OptionError } from '../errors.js';
import { epochOrder, prepareBatch, type PreparedBatch, type WorkerInit } from './batch.js';
import type { Dataset } from './core.js';
import { TransformPipeline, resolveTransformConfig, type TransformConfig, type TransformOptions } from './transforms.js';

export { epochOrder } from './batch.js';

/** One batch. */
export interface Batch {
  /** N×C×H×W normalized pixels. */
  x: Float32Array;
  /** N labels. */
  y: Int32Array;
  /** The N dataset indices, in batch order. */
  indices: Int32Array;
  /** [N, C, H, W]. */
  dims: [number, number, number, number];
  epoch: number;
  /** Position of this batch in the epoch. */
  batch: number;
}

/** Options of `DataLoader`. */
export interface DataLoaderOptions {
  /** Samples per batch. */
  batchSize: number;
  /** A pipeline, its config, or options resolved against the dataset (`resolveTransformConfig`). */
  transform: TransformPipeline | TransformConfig | TransformOptions;
  /** Shuffle each epoch (seeded); default true. */
  shuffle?: boolean;
  /** Seed of the order and of every augmentation draw; default 0. */
  seed?: number;
  /** Drop the last, smaller batch; default false. */
  dropLast?: boolean;
  /**
   * Workers that decode and augment (with `pool`); default 0 here, min(2, cores) in Node's
   * `DataLoader`. 0 prepares batches on the main thread (fine for small in-memory datasets and for
   * debugging; image folders should use workers). Datasets without `source()` always use the main thread.
   */
  workers?: number;
  /** Starts the workers (Node: worker threads); required for `workers` > 0. */
  pool?: BatchPoolFactory;
  /** Batches prepared ahead of the consumer; default 2 × workers (at least 1). */
  prefetch?: number;
  /** Receives warnings from the dataset (skipped files), each once; default `console.warn`. */
  onWarning?: (message: string) => void;
}

function isPipelineConfig(t: TransformConfig | TransformOptions): t is TransformConfig {
  return (
    'mean' in t &&
    'std' in t &&
    'resize' in t &&
    'channels' in t &&
    'inputSize' in t &&
    'padding' in t &&
    'flip' in t &&
    'inceptionCrop' in t &&
    'photometric' in t
  );
}

/** Prepares batches away from the main thread; the loader sends it index lists. */
export interface BatchPool {
  run(indices: Int32Array, seed: number, epoch: number): Promise<PreparedBatch>;
  close(): Promise<void>;
}

/** Starts `workers` workers that rebuild the dataset and pipeline from `init`; warnings go to `onWarning`. */
export type BatchPoolFactory = (workers: number, init: WorkerInit, onWarning: (message: string) => void) => BatchPool;

/** Batches of a dataset, in a seeded order, prepared ahead by worker threads. */
export class DataLoader {
  readonly dataset: Dataset;
  readonly pipeline: TransformPipeline;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  /** Worker threads in use (0 = main thread). */
  readonly workers: number;
  readonly prefetch: number;
  private readonly pool: BatchPool | null;
  private readonly warn: (message: string) => void;
  private readonly warned = new Set<string>();
  private cached: { epoch: number; order: Int32Array } | null = null;
  private closed = false;

  constructor(dataset: Dataset, options: DataLoaderOptions) {
    const { batchSize } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new OptionError(`DataLoader batchSize must be a positive integer. Received: batchSize=${batchSize}`, { option: 'batchSize' });
    if (dataset.size < 1) throw new OptionError(`DataLoader: dataset ${dataset.name} is empty`, { option: 'dataset' });
    this.dataset = dataset;
    const t = options.transform;
    this.pipeline =
      t instanceof TransformPipeline ? t : new TransformPipeline(isPipelineConfig(t) ? t : resolveTransformConfig(t, dataset));
    this.batchSize = batchSize;
    this.shuffle = options.shuffle ?? true;
    this.seed = options.seed ?? 0;
    this.dropLast = options.dropLast ?? false;
    if (this.dropLast && dataset.size < batchSize)
      throw new OptionError(
        `DataLoader: dropLast with batchSize ${batchSize} leaves no batch of the ${dataset.size} samples of ${dataset.name}`,
        { option: 'dropLast' },
      );
    const requested = options.workers ?? 0;
    if (!Number.isInteger(requested) || requested < 0)
      throw new OptionError(`DataLoader workers must be a non-negative integer. Received: workers=${requested}`, { option: 'workers' });
    if (requested > 0 && !options.pool)
      throw new OptionError(`DataLoader: workers=${requested} needs a worker pool (Node's DataLoader has one); pass workers: 0`, {
        option: 'workers',
      });
    this.workers = dataset.source ? requested : 0;
    this.prefetch = options.prefetch ?? Math.max(1, 2 * this.workers);
    if (!Number.isInteger(this.prefetch) || this.prefetch < 1)
      throw new OptionError(`DataLoader prefetch must be a positive integer. Received: prefetch=${this.prefetch}`, { option: 'prefetch' });
    const warn = options.onWarning ?? ((m: string) => console.warn(m));
    this.warn = (m) => {
      if (this.warned.has(m)) return;
      this.warned.add(m);
      warn(m);
    };
    this.pool =
      this.workers > 0 && dataset.source && options.pool
        ? options.pool(this.workers, { source: dataset.source(), transform: this.pipeline.config }, this.warn)
        : null;
  }

  /** Batches per epoch. */
  get numBatches(): number {
    const n = this.dataset.size;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The dataset indices of `epoch`, in order. */
  order(epoch: number): Int32Array {
    if (this.cached?.epoch !== epoch) this.cached = { epoch, order: epochOrder(this.dataset.size, this.seed, epoch, this.shuffle) };
    return this.cached.order;
  }

  /** The dataset indices of batch `b` of `epoch`. */
  batchIndices(epoch: number, b: number): Int32Array {
    if (!Number.isInteger(b) || b < 0 || b >= this.numBatches)
      throw new OptionError(`DataLoader: batch ${b} is out of range [0, ${this.numBatches})`, { option: 'batch' });
    return this.order(epoch).slice(b * this.batchSize, Math.min((b + 1) * this.batchSize, this.dataset.size));
  }

  /** Prepares batch `b` of `epoch` (on a worker when there are any). */
  async getBatch(epoch: number, b: number): Promise<Batch> {
    if (this.closed) throw new ClosedError('DataLoader is closed');
    const indices = this.batchIndices(epoch, b);
    const { x, y } = this.pool
      ? await this.pool.run(indices, this.seed, epoch)
      : await prepareBatch(this.dataset, this.pipeline, indices, this.seed, epoch);
    const [c, h, w] = this.pipeline.outputDims;
    return { x, y, indices, dims: [indices.length, c, h, w], epoch, batch: b };
  }

  /**
   * The batches of `epoch` from `startBatch` (default 0) on, with `prefetch` batches in flight.
   * Resuming at batch k yields exactly the batches k… of the full epoch.
   */
  async *epoch(epoch: number, options: { startBatch?: number } = {}): AsyncGenerator<Batch, void, undefined> {
    const n = this.numBatches;
    const start = options.startBatch ?? 0;
    if (!Number.isInteger(start) || start < 0 || start > n)
      throw new OptionError(`DataLoader: startBatch must be an integer in [0, ${n}]. Received: startBatch=${start}`, {
        option: 'startBatch',
      });
    const queue: Promise<Batch>[] = [];
    let next = start;
    const fill = (): void => {
      while (next < n && queue.length < this.prefetch) {
        const p = this.getBatch(epoch, next++);
        p.catch(() => undefined); // awaited below; avoids an unhandled rejection if the consumer stops early
        queue.push(p);
      }
    };
    fill();
    while (queue.length > 0) {
      const batch = await (queue.shift() as Promise<Batch>);
      fill();
      yield batch;
    }
  }

  /** Terminates the workers; pending batches reject. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    await this.pool?.close();
  }
}
