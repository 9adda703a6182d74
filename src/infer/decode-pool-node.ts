/**
 * Decoding and preprocessing of image files in worker threads, for predict over folders: each
 * worker reads a file, decodes it with sharp and applies the model's preprocessing (resize, crop,
 * normalise: `preprocess` in `image.ts`), and sends the N×C×H×W input back as a transferred
 * buffer. The main thread is left with batching and the model. Same bytes as decoding on the main
 * thread: the same functions run, only elsewhere. The thread's entry is
 * `preprocess-worker-node.ts`; the pool is the project's one `ThreadPool`.
 */
import { availableParallelism } from 'node:os';
import type { PreprocessConfig } from '../models/model.js';
import type { Tensor } from '../tensor.js';
import { ThreadPool } from '../thread-pool-node.js';
import type { Classifier } from './classifier.js';

/** What a decoder thread is started with: the model's preprocessing and input channels. */
export interface DecodeInit extends PreprocessConfig {
  channels: 1 | 3;
  /** Time to download an http(s) URL, in ms. Default 30000. */
  fetchTimeoutMs?: number;
}

/** One file (or http(s) URL) to decode; the reply is its `[C, H, W]` input, values only. */
export interface DecodeTask {
  file: string;
}

/** Options of {@link DecodePool}. */
export interface DecodePoolOptions {
  /** Worker threads. Default min(2, available cores). */
  workers?: number;
  /**
   * Files one worker holds at once: with 2, a worker preprocesses one picture while sharp decodes
   * the next on libuv's threads. Default 2.
   */
  perWorker?: number;
  /** Time to download an http(s) URL, in ms. Default 30000. */
  fetchTimeoutMs?: number;
}

/**
 * The decoder threads `predictFiles` and queue workers start when not told: 2 on machines with
 * more than 2 cores, none on 2 cores or fewer. On 2 cores the threads compete with ONNX Runtime's
 * for the same two cores and were as fast or slower in every comparison (docs/PERFORMANCE.md):
 * without them sharp still decodes on libuv's threads, and only resizing and normalising stay on
 * the JavaScript thread, between model calls.
 */
export const defaultDecodeWorkers = (): number => Math.min(2, Math.max(0, availableParallelism() - 2));

/** Worker threads that turn image files into one model's inputs. */
export class DecodePool {
  private readonly threads: ThreadPool<DecodeInit, DecodeTask, Float32Array>;
  private readonly dims: number[];

  constructor(init: DecodeInit, o: DecodePoolOptions = {}) {
    this.threads = new ThreadPool({
      entry: './preprocess-worker-node',
      base: import.meta.url,
      init,
      size: o.workers ?? Math.min(2, availableParallelism()),
      perWorker: o.perWorker ?? 2,
      owner: 'the image decoders',
    });
    this.dims = [1, init.channels, init.crop, init.crop];
  }

  /** A pool with `net`'s preprocessing (its model's, else the default of its input size). */
  static forClassifier(net: Classifier, o: DecodePoolOptions = {}): DecodePool {
    const p = net.preprocessing;
    const channels = net.model.config.inChannels as 1 | 3;
    const timeout = o.fetchTimeoutMs !== undefined ? { fetchTimeoutMs: o.fetchTimeoutMs } : {};
    return new DecodePool({ resize: p.resize, crop: p.crop, mean: [...p.mean], std: [...p.std], channels, ...timeout }, o);
  }

  /** Worker threads of the pool. */
  get workers(): number {
    return this.threads.size;
  }

  /**
   * `file` (a path or an http(s) URL) as a 1×C×H×W model input. Rejects with an `ImageError` when
   * it cannot be read, downloaded or decoded, with the error of `preprocess` otherwise (a bad
   * option, not a bad file).
   */
  async run(file: string): Promise<Tensor> {
    return { dims: [...this.dims], data: await this.threads.run({ file }) };
  }

  /** Stops the threads; files still pending reject with a ClosedError. */
  close(): Promise<void> {
    return this.threads.close();
  }
}
