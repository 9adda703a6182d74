/**
 * Datasets in the browser: IDX files fetched over HTTP and gunzipped with the browser's
 * `DecompressionStream`, then parsed by the same `idxDataset` as Node (`src/data/idx.ts`), within
 * the same limits: a download is refused past `maxDatasetFileBytes`, and inflating stops at the
 * size the IDX header promises (`IdxInflateGuard`), so a gzip bomb gives a message instead of
 * exhausting the tab's memory.
 */
import { idxDatasetInfo, type MemoryDataset } from '../data/core.js';
import { IdxInflateGuard, idxDataset, isGzip } from '../data/idx.js';
import { DatasetFormatError } from '../errors.js';
import { getLimits, raiseHint } from '../limits.js';
import { readCapped } from '../stream.js';

/** Gunzips `bytes` when they are gzip (checked on content), within the IDX limits. */
export async function gunzipIdx(bytes: Uint8Array, file: string): Promise<Uint8Array> {
  if (!isGzip(bytes)) return bytes;
  const guard = new IdxInflateGuard(file);
  try {
    const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream('gzip'));
    // The guard also stops the output at the size the IDX header promises.
    return await readCapped(stream, {
      maxBytes: getLimits().maxDatasetFileBytes,
      tooLarge: () =>
        new DatasetFormatError(`${file}: inflates to more than ${raiseHint('maxDatasetFileBytes')} (a gzip bomb or a damaged file)`, {
          file,
        }),
      onChunk: (chunk) => guard.add(chunk),
    });
  } catch (e) {
    if (e instanceof DatasetFormatError) throw e;
    throw new DatasetFormatError(`${file}: corrupt or truncated gzip stream (${(e as Error).message})`, { file });
  }
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const cap = getLimits().maxDatasetFileBytes;
  const tooBig = (n: number): DatasetFormatError =>
    new DatasetFormatError(`${url}: ${n.toLocaleString('en-US')} bytes is more than ${raiseHint('maxDatasetFileBytes')}`, { file: url });
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new DatasetFormatError(`${url}: cannot fetch (${(e as Error).message})`);
  }
  if (!res.ok) throw new DatasetFormatError(`${url}: HTTP ${res.status}`);
  const declared = Number(res.headers.get('content-length'));
  if (declared > cap) {
    await res.body?.cancel().catch(() => undefined);
    throw tooBig(declared);
  }
  if (!res.body) return new Uint8Array(0);
  try {
    return await readCapped(res.body, { maxBytes: cap, tooLarge: tooBig });
  } catch (e) {
    if (e instanceof DatasetFormatError) throw e;
    throw new DatasetFormatError(`${url}: cannot fetch (${(e as Error).message})`);
  }
}

/**
 * Fetches one split of an IDX dataset folder served at `baseUrl` (`train-…` or `t10k-…`
 * `images-idx3-ubyte.gz` and `labels-idx1-ubyte.gz`, as `assets/fashion-mnist-subset/` holds them).
 */
export async function fetchIdxDataset(
  baseUrl: string,
  split: 'train' | 'test',
  name: 'fashion-mnist' | 'mnist' | 'fashion-mnist-subset' = 'fashion-mnist-subset',
): Promise<MemoryDataset> {
  const prefix = split === 'train' ? 'train' : 't10k';
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const imagesUrl = `${base}${prefix}-images-idx3-ubyte.gz`;
  const labelsUrl = `${base}${prefix}-labels-idx1-ubyte.gz`;
  const [images, labels] = await Promise.all([fetchBytes(imagesUrl), fetchBytes(labelsUrl)]);
  return idxDataset(
    { name: imagesUrl, bytes: await gunzipIdx(images, imagesUrl) },
    { name: labelsUrl, bytes: await gunzipIdx(labels, labelsUrl) },
    idxDatasetInfo(name),
  );
}
