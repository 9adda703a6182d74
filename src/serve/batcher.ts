/**
 * Dynamic batching as Triton's dynamic batcher does it: requests that arrive within `maxDelayMs`
 * of each other run as one batch of at most `maxBatch` rows, through one model call at a time
 * (one ONNX Runtime session, reused). While a batch runs, new requests queue; when it ends, what
 * queued meanwhile runs next at once, so under load batches fill up without waiting.
 *
 * Overload never grows memory without bound: a queue holding `maxQueue` rows refuses more with
 * `OverloadedError` (a server's 503), and a request still queued after `timeoutMs` is dropped
 * unrun with `TimeoutError` (504). Platform-free: timers only.
 */
import { checkOption, int } from '../checks.js';
import { ClosedError, InternalError, OptionError, OverloadedError, TimeoutError } from '../errors.js';
import type { Tensor } from '../tensor.js';

/** Options of {@link Batcher}. */
export interface BatcherOptions {
  /** Most rows in one model call. Default 16. */
  maxBatch?: number;
  /** How long the first queued request waits for others before its batch runs, in ms. Default 5. */
  maxDelayMs?: number;
  /** Most rows waiting (not yet running); more are refused with `OverloadedError`. Default 256. */
  maxQueue?: number;
  /** Most time a request may wait in the queue before `TimeoutError`, in ms. Default 30000. */
  timeoutMs?: number;
  /** Called after each model call with its rows and duration (metrics). */
  onBatch?: (rows: number, ms: number) => void;
}

export const BATCHER_DEFAULTS = { maxBatch: 16, maxDelayMs: 5, maxQueue: 256, timeoutMs: 30_000 } as const;

interface Pending {
  x: Tensor;
  rows: number;
  resolve: (y: Tensor) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

function checkInt(name: string, v: number, min: number): number {
  return checkOption(int(min), v, name);
}

/** Concatenates [n_i, …] tensors of equal trailing dims along the first axis. */
function concatRows(xs: readonly Tensor[]): Tensor {
  const rows = xs.reduce((a, x) => a + x.dims[0]!, 0);
  const out = new Float32Array(xs.reduce((a, x) => a + x.data.length, 0));
  let at = 0;
  for (const x of xs) {
    out.set(x.data as Float32Array, at);
    at += x.data.length;
  }
  return { dims: [rows, ...xs[0]!.dims.slice(1)], data: out };
}

/** Queues row batches for `run` (N×… → N×…) and runs them together. */
export class Batcher {
  readonly maxBatch: number;
  readonly maxDelayMs: number;
  readonly maxQueue: number;
  readonly timeoutMs: number;
  private readonly queue: Pending[] = [];
  private queuedRows = 0;
  private running: Promise<void> | undefined;
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    private readonly run: (x: Tensor) => Promise<Tensor>,
    private readonly options: BatcherOptions = {},
  ) {
    this.maxBatch = checkInt('maxBatch', options.maxBatch ?? BATCHER_DEFAULTS.maxBatch, 1);
    this.maxDelayMs = checkInt('maxDelayMs', options.maxDelayMs ?? BATCHER_DEFAULTS.maxDelayMs, 0);
    this.maxQueue = checkInt('maxQueue', options.maxQueue ?? BATCHER_DEFAULTS.maxQueue, 1);
    this.timeoutMs = checkInt('timeoutMs', options.timeoutMs ?? BATCHER_DEFAULTS.timeoutMs, 1);
  }

  /** Rows waiting to run (the queue depth a server reports). */
  get depth(): number {
    return this.queuedRows;
  }

  /**
   * Runs `x` (dims [n, …], n ≤ maxBatch) in a batch with others; resolves to its own rows of the
   * output. An aborted `signal` (the client went away) takes it off the queue if it has not run.
   */
  submit(x: Tensor, signal?: AbortSignal): Promise<Tensor> {
    const rows = x.dims[0] ?? 0;
    if (this.closed) return Promise.reject(new ClosedError('the server is shutting down and takes no new requests'));
    if (rows < 1 || rows > this.maxBatch)
      return Promise.reject(new OptionError(`a batch of ${rows} rows: expected 1 to ${this.maxBatch} (--max-batch)`, { option: 'x' }));
    if (this.queuedRows + rows > this.maxQueue)
      return Promise.reject(
        new OverloadedError(`the queue is full (${this.queuedRows} of ${this.maxQueue} rows waiting); try again later`),
      );
    return new Promise<Tensor>((resolve, reject) => {
      const item: Pending = { x, rows, resolve, reject, timer: setTimeout(() => this.expire(item), this.timeoutMs) };
      signal?.addEventListener('abort', () => this.expire(item, new ClosedError('the request was cancelled before it ran')), {
        once: true,
      });
      this.queue.push(item);
      this.queuedRows += rows;
      this.schedule();
    });
  }

  /** Refuses new work and resolves once everything queued or running has finished. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.running || this.queue.length > 0) {
      if (!this.running) this.start();
      await this.running;
    }
  }

  private expire(item: Pending, err?: Error): void {
    const i = this.queue.indexOf(item);
    if (i < 0) return; // already running (it completes) or gone
    this.queue.splice(i, 1);
    this.queuedRows -= item.rows;
    clearTimeout(item.timer);
    item.reject(err ?? new TimeoutError(`the request waited ${this.timeoutMs} ms in the queue without running`));
  }

  private schedule(): void {
    if (this.running || this.queue.length === 0) return;
    if (this.queuedRows >= this.maxBatch || this.maxDelayMs === 0 || this.closed) {
      this.start();
      return;
    }
    this.flushTimer ??= setTimeout(() => this.start(), this.maxDelayMs);
  }

  /** Takes up to maxBatch rows off the queue and runs them as one call. */
  private start(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.running || this.queue.length === 0) return;
    const batch: Pending[] = [];
    let rows = 0;
    while (this.queue.length > 0 && rows + this.queue[0]!.rows <= this.maxBatch) {
      const item = this.queue.shift()!;
      clearTimeout(item.timer);
      rows += item.rows;
      batch.push(item);
    }
    this.queuedRows -= rows;
    this.running = this.runBatch(batch, rows).finally(() => {
      this.running = undefined;
      // What queued during the run has waited at least as long as the run: go at once.
      if (this.queue.length > 0) this.start();
    });
  }

  private async runBatch(batch: Pending[], rows: number): Promise<void> {
    const t0 = Date.now();
    try {
      const y = await this.run(concatRows(batch.map((b) => b.x)));
      if (y.dims[0] !== rows) throw new InternalError(`the model returned ${y.dims[0]} rows for a batch of ${rows}`);
      const per = y.data.length / rows;
      let at = 0;
      for (const b of batch) {
        b.resolve({ dims: [b.rows, ...y.dims.slice(1)], data: y.data.slice(at * per, (at + b.rows) * per) });
        at += b.rows;
      }
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
    this.options.onBatch?.(rows, Date.now() - t0);
  }
}
