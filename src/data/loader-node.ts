/**
 * Node's DataLoader: the core loader (`loader.ts`) with a pool of worker threads that decode and
 * augment batches in parallel (`loader-worker-node.ts` is the thread's entry). Batches are the
 * same bytes whichever thread made them (see `batch.ts`).
 */
import { availableParallelism } from 'node:os';
import { ThreadPool } from '../thread-pool-node.js';
import type { PreparedBatch, WorkerInit, WorkerTask } from './batch.js';
import type { Dataset } from './core.js';
import { DataLoader as CoreDataLoader, type BatchPool, type DataLoaderOptions } from './loader.js';

export { epochOrder, type Batch, type DataLoaderOptions } from './loader.js';

/** The loader's workers: a {@link ThreadPool} on `loader-worker-node.ts`, one batch per worker at a time. */
export class WorkerPool implements BatchPool {
  private readonly threads: ThreadPool<WorkerInit, WorkerTask, PreparedBatch>;

  constructor(size: number, init: WorkerInit, onWarning: (message: string) => void) {
    this.threads = new ThreadPool({ entry: './loader-worker-node', base: import.meta.url, init, size, owner: 'DataLoader', onWarning });
  }

  run(indices: Int32Array, seed: number, epoch: number): Promise<PreparedBatch> {
    return this.threads.run({ indices, seed, epoch });
  }

  close(): Promise<void> {
    return this.threads.close();
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
