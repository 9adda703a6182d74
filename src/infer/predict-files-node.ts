/**
 * Prediction over folders of any size, streamed: `listImages` walks folders one directory at a
 * time (names only, sorted, so that every run sees the same order), and `predictFiles` decodes
 * and preprocesses ahead of inference in worker threads (`decode-pool-node.ts`; up to `prefetch`
 * files in flight) while the model runs batches on the main thread, handing each result to
 * `onResult` in file order as soon as its batch is done. Nothing holds more than `prefetch`
 * decoded pictures at once.
 */
import { opendir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { ImageError, OptionError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { topK, type Classifier, type Prediction } from './classifier.js';
import { decodeImageSource } from '../image/decode-node.js';
import { DecodePool, defaultDecodeWorkers } from './decode-pool-node.js';
import { stackBatch } from './image.js';

/** File extensions `listImages` takes from folders (files named explicitly are always taken). */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'] as const;

/**
 * The image files of `paths`, in order: a file as it is, a folder's images sorted by name (its
 * sub-folders too with `recursive`, depth first, after the folder's own files).
 */
export async function* listImages(paths: readonly string[], { recursive = false }: { recursive?: boolean } = {}): AsyncGenerator<string> {
  for (const p of paths) {
    let s;
    try {
      s = await stat(p);
    } catch {
      throw new OptionError(`${p}: no such file or folder`, { option: 'paths', file: p });
    }
    if (s.isDirectory()) yield* walk(p, recursive);
    else yield p;
  }
}

async function* walk(dir: string, recursive: boolean): AsyncGenerator<string> {
  const files: string[] = [];
  const dirs: string[] = [];
  for await (const e of await opendir(dir)) {
    if (e.name.startsWith('.')) continue;
    if (e.isDirectory()) dirs.push(e.name);
    else if ((IMAGE_EXTENSIONS as readonly string[]).includes(extname(e.name).toLowerCase())) files.push(e.name);
  }
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  for (const f of files.sort(byName)) yield join(dir, f);
  if (recursive) for (const d of dirs.sort(byName)) yield* walk(join(dir, d), recursive);
}

/** One file's result. */
export interface FileResult {
  file: string;
  top: Prediction[];
  /** With `logits: true`. */
  logits?: number[];
  /** With `features`: that activation's row (e.g. `pool5`, 1024 values at width 1). */
  features?: Float32Array;
}

/** Options of {@link predictFiles}. */
export interface PredictFilesOptions {
  /** Images per model call. Default 16. */
  batch?: number;
  /** Files decoded ahead of the model (in flight or waiting for their batch). Default 2 × batch. */
  prefetch?: number;
  /**
   * Worker threads that read, decode and preprocess files while the model runs; 0 does it on the
   * main thread (sharp still decodes on libuv's threads). Default {@link defaultDecodeWorkers}: 2
   * on more than 2 cores, else 0.
   */
  workers?: number;
  /** Decoder threads of the caller's, kept across calls (a queue worker's); `workers` and `fetchTimeoutMs` are then its. */
  pool?: DecodePool;
  /** Time to download a file given as an http(s) URL, in ms. Default 30000. */
  fetchTimeoutMs?: number;
  /** Labels per image. Default 5. */
  topK?: number;
  /** Include the raw logits. Default false. */
  logits?: boolean;
  /** Also return this named activation per image (`pool5`, `inception4a`, …). */
  features?: string;
  /** Files to pass over (a resumed run's finished ones). */
  skip?: ReadonlySet<string>;
  /** Called with each result, in file order. */
  onResult: (r: FileResult) => void | Promise<void>;
  /** A file that cannot be read or decoded: return `'skip'` to go on (default) or `'stop'` to throw its error. */
  onError?: (file: string, err: ImageError) => 'skip' | 'stop';
}

/**
 * Runs the classifier over `files` (paths, or http(s) URLs downloaded with a bounded size and
 * time: see `decodeImageSource`); resolves to the counts once the last result is handed over.
 */
export async function predictFiles(
  net: Classifier,
  files: AsyncIterable<string> | Iterable<string>,
  o: PredictFilesOptions,
): Promise<{ done: number; skipped: number; failed: number }> {
  const batchSize = o.batch ?? 16;
  const prefetch = Math.max(o.prefetch ?? 2 * batchSize, 1);
  const channels = net.model.config.inChannels as 1 | 3;
  const counts = { done: 0, skipped: 0, failed: 0 };
  const workers = o.pool ? o.pool.workers : (o.workers ?? defaultDecodeWorkers());
  const timeout = o.fetchTimeoutMs !== undefined ? { fetchTimeoutMs: o.fetchTimeoutMs } : {};
  const own = !o.pool && workers > 0 ? DecodePool.forClassifier(net, { workers, ...timeout }) : undefined;
  const pool = o.pool ?? own;
  // Each file's input, or its ImageError (a file to skip), or what else stopped it (a bad
  // option, a crashed worker: the end of the run). Settled values, so that a failure is only
  // seen, in order, when its turn comes.
  const decode = (file: string): Promise<Tensor | ImageError | { fatal: unknown }> =>
    (pool
      ? pool.run(file)
      : decodeImageSource(file, { channels, ...(o.fetchTimeoutMs !== undefined ? { timeoutMs: o.fetchTimeoutMs } : {}) }).then(
          (img) => net.toInput(img),
          (e: unknown) => {
            throw e instanceof ImageError ? e : new ImageError(`${file}: ${String(e)}`, { file });
          },
        )
    ).then(
      (x) => x,
      (e: unknown) => (e instanceof ImageError ? e : { fatal: e }),
    );
  const window: { file: string; x: Promise<Tensor | ImageError | { fatal: unknown }> }[] = [];
  let batch: { file: string; x: Tensor }[] = [];

  const flush = async () => {
    if (batch.length === 0) return;
    const x = stackBatch(batch.map((b) => b.x));
    const out = o.features ? await net.model.infer(x, { taps: [o.features] }) : { logits: (await net.model.forward(x)).logits };
    const logits = out['logits']!;
    const tops = topK(logits, o.topK ?? 5, net.model.labels);
    const k = logits.dims[1]!;
    const feats = o.features ? out[o.features]! : undefined;
    const f = feats ? feats.data.length / batch.length : 0;
    for (let i = 0; i < batch.length; i++) {
      await o.onResult({
        file: batch[i]!.file,
        top: tops[i]!,
        ...(o.logits ? { logits: Array.from(logits.data.subarray(i * k, (i + 1) * k)) } : {}),
        ...(feats ? { features: Float32Array.from(feats.data.subarray(i * f, (i + 1) * f)) } : {}),
      });
    }
    counts.done += batch.length;
    batch = [];
  };
  const take = async () => {
    const { file, x } = window.shift()!;
    const v = await x;
    if ('fatal' in v) throw v.fatal;
    if (!(v instanceof ImageError)) batch.push({ file, x: v });
    else if ((o.onError?.(file, v) ?? 'skip') === 'stop') throw v;
    else counts.failed++;
    if (batch.length >= batchSize) await flush();
  };

  try {
    for await (const file of files) {
      if (o.skip?.has(file)) {
        counts.skipped++;
        continue;
      }
      window.push({ file, x: decode(file) });
      if (window.length >= prefetch) await take();
    }
    while (window.length > 0) await take();
    await flush();
  } finally {
    await own?.close();
  }
  return counts;
}
