/**
 * Node's DataLoader: the core loader (`loader.ts`) with a pool of worker threads that decode and
 * augment batches in parallel (`loader-worker-node.ts` is the thread's entry). Batches are the
 * same bytes whichever thread made them (see `batch.ts`).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DatasetFormatError, GoogLeNetError, ImageError, OptionError, WeightFormatError } from '../errors.js';
import type { PreparedBatch, WorkerInit, WorkerReply, WorkerTask } from './batch.js';
import type { Dataset } from './core.js';
import { DataLoader as CoreDataLoader, type BatchPool, type DataLoaderOptions } from './loader.js';

export { epochOrder, sampleRng, type Batch, type BatchPool, type DataLoaderOptions } from './loader.js';

const ERROR_CLASSES: Record<string, new (message: string) => Error> = {
  DatasetFormatError,
  ImageError,
  OptionError,
  WeightFormatError,
  GoogLeNetError,
  RangeError,
  TypeError,
};

/** Rebuilds an error thrown in a worker with its class and exact message. */
function reviveError(name: string, message: string, stack?: string): Error {
  const Ctor = ERROR_CLASSES[name] ?? Error;
  const e = new Ctor(message);
  if (stack) e.stack = stack;
  return e;
}

/** Starts a worker on the sibling entry file: `.ts` under tsx (registered in the worker), `.js` when compiled. */
function startWorker(init: WorkerInit): Worker {
  const self = import.meta.url;
  if (/\.[cm]?ts$/.test(self)) {
    const entry = new URL('./loader-worker-node.ts', self).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(code, { eval: true, workerData: init, execArgv: [] });
  }
  // Inherit the parent's flags except those a worker rejects (`node --input-type=module -e …`).
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  return new Worker(new URL('./loader-worker-node.js', self), { workerData: init, execArgv });
}

interface Job {
  task: WorkerTask;
  resolve: (b: PreparedBatch) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Job | null;
}

/** A fixed set of workers, one task each at a time; idle workers are unref'd so they never keep the process alive. */
export class WorkerPool implements BatchPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 0;
  private failure: Error | null = null;
  private closed = false;

  constructor(
    private readonly size: number,
    private readonly init: WorkerInit,
    private readonly onWarning: (message: string) => void,
  ) {
    // Each worker holds a copy of the augmentation state and a V8 heap: a thousand exhaust memory.
    const max = 4 * availableParallelism();
    if (!Number.isInteger(size) || size < 0 || size > max)
      throw new OptionError(`workers: expected an integer in [0, ${max}] (four per core), received ${String(size)}`, { option: 'workers' });
  }

  run(indices: Int32Array, seed: number, epoch: number): Promise<PreparedBatch> {
    if (this.closed) return Promise.reject(new Error('DataLoader is closed'));
    if (this.failure) return Promise.reject(this.failure);
    if (this.slots.length === 0) for (let i = 0; i < this.size; i++) this.slots.push(this.spawn());
    return new Promise((resolve, reject) => {
      this.queue.push({ task: { id: this.nextId++, indices, seed, epoch }, resolve, reject });
      this.pump();
    });
  }

  private spawn(): Slot {
    const worker = startWorker(this.init);
    const slot: Slot = { worker, job: null };
    worker.unref();
    worker.on('message', (m: WorkerReply) => {
      if (m.type === 'warning') {
        this.onWarning(m.message);
        return;
      }
      const job = slot.job;
      if (!job || job.task.id !== m.id) return;
      slot.job = null;
      worker.unref();
      if (m.type === 'result') job.resolve({ x: m.x, y: m.y });
      else job.reject(reviveError(m.name, m.message, m.stack));
      this.pump();
    });
    worker.on('error', (e: Error) => this.fail(new Error(`DataLoader worker failed: ${e.message}`)));
    worker.on('exit', (code) => {
      if (!this.closed) this.fail(new Error(`DataLoader worker exited unexpectedly (code ${code})`));
    });
    return slot;
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (slot.job || this.queue.length === 0) continue;
      const job = this.queue.shift() as Job;
      slot.job = job;
      slot.worker.ref();
      slot.worker.postMessage(job.task);
    }
  }

  private fail(e: Error): void {
    if (this.failure || this.closed) return;
    this.failure = e;
    for (const slot of this.slots) {
      slot.job?.reject(e);
      slot.job = null;
    }
    for (const job of this.queue.splice(0)) job.reject(e);
    void this.terminate();
  }

  private async terminate(): Promise<void> {
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const e = new Error('DataLoader is closed');
    for (const slot of this.slots) {
      slot.job?.reject(e);
      slot.job = null;
    }
    for (const job of this.queue.splice(0)) job.reject(e);
    await this.terminate();
  }
}

/**
 * The DataLoader with worker threads: `workers` defaults to min(2, available cores); 0 prepares
 * batches on the main thread.
 */
export class DataLoader extends CoreDataLoader {
  constructor(dataset: Dataset, options: DataLoaderOptions) {
    super(dataset, {
      ...options,
      workers: options.workers ?? Math.min(2, availableParallelism()),
      pool: options.pool ?? ((workers, init, onWarning) => new WorkerPool(workers, init, onWarning)),
    });
  }
}
