/**
 * Worker threads that answer tasks: the one pool behind the DataLoader's workers
 * (`data/loader-worker-node.ts`: index lists → augmented batches) and the image decoders of
 * folder predict (`infer/preprocess-worker-node.ts`: file names → model inputs).
 *
 * The main thread side is {@link ThreadPool}; a worker's entry calls {@link answerTasks} with its
 * handler. Results travel back as transferred buffers (no copy); an error thrown in a worker is
 * rebuilt on this side with its class, message and `file`. The limits in force here
 * (`setLimits`, `GOOGLENET_*` variables) are applied in each worker before its handler is made.
 */
import { availableParallelism } from 'node:os';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import {
  ClosedError,
  DatasetFormatError,
  GoogLeNetError,
  ImageError,
  InternalError,
  OptionError,
  WeightFormatError,
  type ErrorContext,
} from './errors.js';
import { getLimits, setLimits, type Limits } from './limits.js';

/** `workerData` of every pool thread: the limits of the main thread and the entry's own data. */
interface ThreadData<I> {
  limits: Limits;
  init: I;
}

/** Main thread → worker. */
interface TaskMessage<T> {
  id: number;
  task: T;
}

/** Worker → main thread. */
type ReplyMessage<R> =
  | { type: 'result'; id: number; result: R }
  | { type: 'error'; id: number; name: string; message: string; file?: string; option?: string; stack?: string }
  | { type: 'warning'; message: string };

/** What a handler returns: the result and the buffers to transfer with it (not copy). */
export interface TaskResult<R> {
  result: R;
  transfer?: ArrayBuffer[];
}

/** The classes a worker's error is rebuilt as; each gets back the `file` and `option` it had there. */
const ERROR_CLASSES: Record<string, new (message: string, context: ErrorContext) => Error> = {
  DatasetFormatError,
  ImageError,
  OptionError: OptionError as new (message: string, context: ErrorContext) => OptionError,
  WeightFormatError: WeightFormatError as new (message: string, context: ErrorContext) => WeightFormatError,
  GoogLeNetError,
  InternalError,
  RangeError,
  TypeError,
};

/** Rebuilds an error thrown in a worker with its class, exact message, file and option. */
function reviveError(m: { name: string; message: string; file?: string; option?: string; stack?: string }): Error {
  const Ctor = ERROR_CLASSES[m.name] ?? Error;
  const e = new Ctor(m.message, {
    ...(m.file !== undefined ? { file: m.file } : {}),
    ...(m.option !== undefined ? { option: m.option } : {}),
  });
  if (m.stack) e.stack = m.stack;
  return e;
}

/**
 * The body of a worker entry: applies the main thread's limits, makes the handler from the
 * entry's `init`, and answers each task as it comes (a worker may hold several at once).
 */
export function answerTasks<I, T, R>(
  entry: string,
  makeHandler: (init: I, warn: (message: string) => void) => (task: T) => Promise<TaskResult<R>>,
): void {
  const port = parentPort;
  if (!port) throw new InternalError(`${entry} must be started as a worker thread by a ThreadPool`);
  const data = workerData as ThreadData<I>;
  setLimits(data.limits);
  const reply = (m: ReplyMessage<R>, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
  const handle = makeHandler(data.init, (message) => reply({ type: 'warning', message }));
  port.on('message', ({ id, task }: TaskMessage<T>) => {
    handle(task).then(
      ({ result, transfer }) => reply({ type: 'result', id, result }, transfer),
      (e: unknown) => {
        const err = e instanceof Error ? e : new InternalError(`a worker task failed with a value that is not an error: ${String(e)}`);
        const file = err instanceof GoogLeNetError ? err.file : undefined;
        const option = err instanceof GoogLeNetError ? err.option : undefined;
        reply({
          type: 'error',
          id,
          name: err.name,
          message: err.message,
          ...(file !== undefined ? { file } : {}),
          ...(option !== undefined ? { option } : {}),
          ...(err.stack ? { stack: err.stack } : {}),
        });
      },
    );
  });
}

/** Starts a worker on an entry file: `.ts` under tsx (registered in the worker), `.js` when compiled. */
function startThread<I>(entry: string, base: string, data: ThreadData<I>): Worker {
  if (/\.[cm]?ts$/.test(base)) {
    const url = new URL(`${entry}.ts`, base).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); });`;
    return new Worker(code, { eval: true, workerData: data, execArgv: [] });
  }
  // Inherit the parent's flags except those a worker rejects (`node --input-type=module -e …`).
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  return new Worker(new URL(`${entry}.js`, base), { workerData: data, execArgv });
}

/** Options of {@link ThreadPool}. */
export interface ThreadPoolOptions<I> {
  /** The worker entry without its extension, relative to `base`: `'./loader-worker-node'`. */
  entry: string;
  /** `import.meta.url` of the module that names the entry (`.ts` under tsx, `.js` compiled). */
  base: string;
  /** The entry's own start-up data (structured-cloned into each worker). */
  init: I;
  /** Worker threads, 0 … four per core. */
  size: number;
  /** Tasks one worker holds at once (it can read the next file while it computes). Default 1. */
  perWorker?: number;
  /** What the pool belongs to, in its errors: `'DataLoader'` → "DataLoader worker failed: …". */
  owner: string;
  /** The option that sets `size`, in the error of a bad size. Default `'workers'`. */
  option?: string;
  /** Warnings the workers send. Default: dropped. */
  onWarning?: (message: string) => void;
}

interface Job<T, R> {
  id: number;
  task: T;
  resolve: (r: R) => void;
  reject: (e: Error) => void;
}

interface Slot<T, R> {
  worker: Worker;
  jobs: Map<number, Job<T, R>>;
}

/**
 * A fixed set of worker threads, started on the first task, each holding up to `perWorker` tasks;
 * the rest wait in order. Idle workers are unref'd so they never keep the process alive. A worker
 * that crashes fails every pending task and the pool.
 */
export class ThreadPool<I, T, R> {
  private readonly slots: Slot<T, R>[] = [];
  private readonly queue: Job<T, R>[] = [];
  private readonly perWorker: number;
  private nextId = 0;
  private failure: Error | null = null;
  private closed = false;

  constructor(private readonly o: ThreadPoolOptions<I>) {
    // Each worker holds a V8 heap (and the loader's a copy of the augmentation state): a thousand exhaust memory.
    const max = 4 * availableParallelism();
    const option = o.option ?? 'workers';
    if (!Number.isInteger(o.size) || o.size < 0 || o.size > max)
      throw new OptionError(`${option}: expected an integer in [0, ${max}] (four per core), received ${String(o.size)}`, { option });
    this.perWorker = o.perWorker ?? 1;
    if (!Number.isInteger(this.perWorker) || this.perWorker < 1)
      throw new OptionError(`perWorker: expected a positive integer, received ${String(o.perWorker)}`, { option: 'perWorker' });
  }

  /** Worker threads of the pool. */
  get size(): number {
    return this.o.size;
  }

  /** Runs `task` on a worker; resolves to its result or rejects with the worker's error. */
  run(task: T): Promise<R> {
    if (this.closed) return Promise.reject(new ClosedError(`${this.o.owner} is closed`));
    if (this.failure) return Promise.reject(this.failure);
    if (this.o.size === 0) return Promise.reject(new InternalError(`${this.o.owner}: a pool of 0 workers runs nothing`));
    if (this.slots.length === 0) {
      const data: ThreadData<I> = { limits: getLimits(), init: this.o.init };
      for (let i = 0; i < this.o.size; i++) this.slots.push(this.spawn(data));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, task, resolve, reject });
      this.pump();
    });
  }

  private spawn(data: ThreadData<I>): Slot<T, R> {
    const worker = startThread(this.o.entry, this.o.base, data);
    const slot: Slot<T, R> = { worker, jobs: new Map() };
    worker.unref();
    worker.on('message', (m: ReplyMessage<R>) => {
      if (m.type === 'warning') {
        this.o.onWarning?.(m.message);
        return;
      }
      const job = slot.jobs.get(m.id);
      if (!job) return;
      slot.jobs.delete(m.id);
      if (slot.jobs.size === 0) worker.unref();
      if (m.type === 'result') job.resolve(m.result);
      else job.reject(reviveError(m));
      this.pump();
    });
    worker.on('error', (e: Error) => this.fail(new InternalError(`${this.o.owner} worker failed: ${e.message}`)));
    worker.on('exit', (code) => {
      if (!this.closed) this.fail(new InternalError(`${this.o.owner} worker exited unexpectedly (code ${code})`));
    });
    return slot;
  }

  /** Hands waiting tasks to the least busy workers. */
  private pump(): void {
    while (this.queue.length > 0) {
      let slot: Slot<T, R> | undefined;
      for (const s of this.slots) if (s.jobs.size < this.perWorker && (!slot || s.jobs.size < slot.jobs.size)) slot = s;
      if (!slot) return;
      const job = this.queue.shift() as Job<T, R>;
      slot.jobs.set(job.id, job);
      slot.worker.ref();
      slot.worker.postMessage({ id: job.id, task: job.task } satisfies TaskMessage<T>);
    }
  }

  private rejectAll(e: Error): void {
    for (const slot of this.slots) {
      for (const job of slot.jobs.values()) job.reject(e);
      slot.jobs.clear();
    }
    for (const job of this.queue.splice(0)) job.reject(e);
  }

  private fail(e: Error): void {
    if (this.failure || this.closed) return;
    this.failure = e;
    this.rejectAll(e);
    void this.terminate();
  }

  private async terminate(): Promise<void> {
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  /** Stops the workers; pending tasks reject with a ClosedError. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.rejectAll(new ClosedError(`${this.o.owner} is closed`));
    await this.terminate();
  }
}
