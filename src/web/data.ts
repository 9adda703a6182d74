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

/** Reads `stream` to its end, handing each chunk to `check` first (which throws to stop it). */
async function readAll(stream: ReadableStream<Uint8Array>, check: (chunk: Uint8Array, total: number) => void): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      check(value, total + value.length);
      chunks.push(value);
      total += value.length;
    }
  } catch (e) {
    await reader.cancel().catch(() => undefined);
    throw e;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Gunzips `bytes` when they are gzip (checked on content), within the IDX limits. */
export async function gunzipIdx(bytes: Uint8Array, file: string): Promise<Uint8Array> {
  if (!isGzip(bytes)) return bytes;
  const guard = new IdxInflateGuard(file);
  try {
    const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream('gzip'));
    return await readAll(stream, (chunk) => guard.add(chunk));
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
    return await readAll(res.body, (_, total) => {
      if (total > cap) throw tooBig(total);
    });
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
