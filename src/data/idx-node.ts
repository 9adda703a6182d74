/**
 * IDX files on disk: finding them in a dataset folder (torchvision's layouts too), reading and
 * gunzipping them; parsing is `idx.ts`'s.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { DatasetFormatError } from '../errors.js';
import { getLimits, raiseHint } from '../limits.js';
import type { DatasetInfo, MemoryDataset } from './core.js';
import { IdxInflateGuard, idxDataset, isGzip } from './idx.js';

/**
 * Gunzips `raw` as a stream, stopping as soon as the output passes `cap` bytes or the size an IDX
 * header at its start promises ({@link IdxInflateGuard}).
 */
async function gunzipCapped(raw: Uint8Array, file: string, cap: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  const guard = new IdxInflateGuard(file, cap);
  const z = createGunzip();
  const done = new Promise<void>((resolve, reject) => {
    z.on('data', (c: Buffer) => {
      try {
        guard.add(c);
        chunks.push(c);
      } catch (e) {
        z.destroy(e as Error);
      }
    });
    z.on('end', resolve);
    z.on('error', reject);
  });
  z.end(raw);
  try {
    await done;
  } catch (e) {
    if (e instanceof DatasetFormatError) throw e;
    const msg = (e as Error).message;
    const what = /unexpected end/i.test(msg) ? 'truncated gzip stream' : 'corrupt gzip stream';
    throw new DatasetFormatError(`${file}: ${what} (${msg}); download it again`, { file });
  }
  return Buffer.concat(chunks, guard.total);
}

/**
 * Reads a file and gunzips it when it is gzip, within the `maxDatasetFileBytes` limit (before
 * and after inflating); errors are one-line `DatasetFormatError`s naming the file.
 */
export async function readMaybeGzip(file: string): Promise<Uint8Array> {
  const cap = getLimits().maxDatasetFileBytes;
  let raw: Buffer;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new DatasetFormatError(`${file}: not a regular file`, { file });
    if (st.size > cap)
      throw new DatasetFormatError(`${file}: ${st.size.toLocaleString('en-US')} bytes is more than ${raiseHint('maxDatasetFileBytes')}`, {
        file,
      });
    raw = await readFile(file);
  } catch (e) {
    if (e instanceof DatasetFormatError) throw e;
    throw new DatasetFormatError(`cannot read ${file}: ${(e as Error).message}`, { file });
  }
  if (!isGzip(raw)) return raw;
  return gunzipCapped(raw, file, cap);
}

/** Where to look for IDX files inside `dir` (torchvision's `MNIST/raw`, `FashionMNIST/raw` too). */
function candidateDirs(dir: string): string[] {
  return [dir, join(dir, 'raw'), join(dir, 'MNIST', 'raw'), join(dir, 'FashionMNIST', 'raw')];
}

/**
 * Finds `train-images-idx3-ubyte[.gz]`/`train-labels-idx1-ubyte[.gz]` (or `t10k-…` for the test
 * split; the dotted `train-images.idx3-ubyte` spelling too) in `dir`.
 * @throws DatasetFormatError naming the missing file, the folders searched and how to download it.
 */
export function findIdxFiles(dir: string, split: 'train' | 'test', datasetName: string): { images: string; labels: string } {
  const prefix = split === 'train' ? 'train' : 't10k';
  const find = (kind: 'images' | 'labels', d: 1 | 3): string => {
    const names = [`${prefix}-${kind}-idx${d}-ubyte`, `${prefix}-${kind}.idx${d}-ubyte`];
    for (const base of candidateDirs(dir)) {
      for (const n of names) {
        for (const ext of ['', '.gz']) {
          const p = join(base, n + ext);
          if (existsSync(p)) return p;
        }
      }
    }
    const dl = datasetName === 'mnist' || datasetName === 'fashion-mnist' ? `; run \`googlenet download ${datasetName} --dir ${dir}\`` : '';
    throw new DatasetFormatError(
      `${datasetName}: cannot find ${names[0]}[.gz] in ${dir} (also looked in raw/, MNIST/raw/, FashionMNIST/raw/)${dl}`,
    );
  };
  return { images: find('images', 3), labels: find('labels', 1) };
}

/** Options of `loadIdxDataset`. */
export interface IdxDatasetOptions {
  /** Path of the images file (raw or gzipped IDX, dims [N, H, W]). */
  images: string;
  /** Path of the labels file (raw or gzipped IDX, dims [N]). */
  labels: string;
  /** Dataset metadata; height/width come from the file. */
  info: Omit<DatasetInfo, 'height' | 'width' | 'channels'>;
}

/**
 * Loads an IDX image/label pair from disk into a `MemoryDataset` (see `idxDataset`).
 * @throws DatasetFormatError on unreadable files and everything `idxDataset` refuses.
 */
export async function loadIdxDataset(options: IdxDatasetOptions): Promise<MemoryDataset> {
  const [images, labels] = await Promise.all([readMaybeGzip(options.images), readMaybeGzip(options.labels)]);
  return idxDataset({ name: options.images, bytes: images }, { name: options.labels, bytes: labels }, options.info);
}
