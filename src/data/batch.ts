/**
 * Turning a list of sample indices into a batch: the one function both the main thread and the
 * loader workers run, so a batch is the same bytes wherever it was made. A sample's augmentation
 * randomness is `sampleRng(seed, epoch, index)` — independent of batch layout and worker.
 */
import type { Dataset, DatasetSource, Sample } from './core.js';
import { Rng } from '../rng.js';
import type { TransformConfig, TransformPipeline } from './transforms.js';

/** Stream tags, so order and augmentation draws never share a stream. */
const ORDER_STREAM = 0x6f72;
const SAMPLE_STREAM = 0x6175;

/** The generator for sample `index`'s augmentation in `epoch`. */
function sampleRng(seed: number, epoch: number, index: number): Rng {
  return Rng.fromKeys(seed, SAMPLE_STREAM, epoch, index);
}

/** The order of `size` samples in `epoch`: a seeded permutation (a pure function of seed and epoch), or 0…size−1 when `shuffle` is false. */
export function epochOrder(size: number, seed: number, epoch: number, shuffle = true): Int32Array {
  if (!shuffle) return Int32Array.from({ length: size }, (_, i) => i);
  return Rng.fromKeys(seed, ORDER_STREAM, epoch).permutation(size);
}

/** A batch's pixels and labels. */
export interface PreparedBatch {
  /** N×C×H×W. */
  x: Float32Array;
  /** N class indices. */
  y: Int32Array;
}

/**
 * Reads and transforms the samples at `indices` into one N×C×H×W batch.
 * @param concurrency samples decoded at once for asynchronous (folder) datasets; default 8.
 */
export async function prepareBatch(
  dataset: Dataset,
  pipeline: TransformPipeline,
  indices: ArrayLike<number>,
  seed: number,
  epoch: number,
  concurrency = 8,
): Promise<PreparedBatch> {
  const n = indices.length;
  const per = pipeline.sampleSize;
  const x = new Float32Array(n * per);
  const y = new Int32Array(n);
  const put = (k: number, s: Sample): void => {
    const index = indices[k] as number;
    pipeline.applyInto(s.image, sampleRng(seed, epoch, index), x, k * per);
    y[k] = s.label;
  };
  let k = 0;
  // Synchronous datasets: no promise per sample.
  for (; k < n; k++) {
    const s = dataset.get(indices[k] as number);
    if (s instanceof Promise) {
      put(k, await s);
      k++;
      break;
    }
    put(k, s);
  }
  let next = k;
  const run = async (): Promise<void> => {
    while (next < n) {
      const j = next++;
      put(j, await dataset.get(indices[j] as number));
    }
  };
  if (next < n) await Promise.all(Array.from({ length: Math.min(concurrency, n - next) }, run));
  return { x, y };
}

/** What a loader worker is started with (its `init`, see `thread-pool-node.ts`). */
export interface WorkerInit {
  source: DatasetSource;
  transform: TransformConfig;
}

/** Main thread → worker: the samples of one batch. */
export interface WorkerTask {
  indices: Int32Array;
  seed: number;
  epoch: number;
}
