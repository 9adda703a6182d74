/**
 * Datasets in the browser: IDX files fetched over HTTP and gunzipped with the browser's
 * `DecompressionStream`, then parsed by the same `idxDataset` as Node (`src/data/idx.ts`).
 */
import { idxDatasetInfo, type MemoryDataset } from '../data/core.js';
import { idxDataset, isGzip } from '../data/idx.js';
import { DatasetFormatError } from '../errors.js';

async function gunzip(bytes: Uint8Array, file: string): Promise<Uint8Array> {
  if (!isGzip(bytes)) return bytes;
  try {
    const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new DatasetFormatError(`${file}: corrupt or truncated gzip stream (${(e as Error).message})`);
  }
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new DatasetFormatError(`${url}: cannot fetch (${(e as Error).message})`);
  }
  if (!res.ok) throw new DatasetFormatError(`${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
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
    { name: imagesUrl, bytes: await gunzip(images, imagesUrl) },
    { name: labelsUrl, bytes: await gunzip(labels, labelsUrl) },
    idxDatasetInfo(name),
  );
}
