/**
 * The embedded Fashion-MNIST subset in the browser: gzipped IDX files fetched over HTTP,
 * decompressed with `DecompressionStream('gzip')`, parsed as `src/data/idx.ts` does (that module
 * reads files with Node APIs), and cut into normalized N×1×H×W batches.
 */
import { DatasetFormatError } from '../errors.js';
import type { Tensor } from '../tensor.js';

/** Fashion-MNIST's classes (official order) and the normalization of `src/data/core.ts`. */
export const FASHION_CLASSES: readonly string[] = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
export const FASHION_STATS = { mean: [0.286], std: [0.353] } as const;

export interface ImageSet {
  count: number;
  height: number;
  width: number;
  /** count × height × width bytes. */
  images: Uint8Array;
  labels: Uint8Array;
}

export async function gunzip(bytes: Uint8Array, file: string): Promise<Uint8Array> {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  try {
    const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new DatasetFormatError(`${file}: corrupt or truncated gzip stream (${(e as Error).message})`);
  }
}

/** Parses IDX unsigned bytes with `dims` dimensions (magic 0x0000080d). */
export function parseIdxBytes(buf: Uint8Array, file: string, dims: number): { dims: number[]; data: Uint8Array } {
  const magic = 0x0800 + dims;
  const header = 4 + 4 * dims;
  if (buf.length < header) throw new DatasetFormatError(`${file}: ${buf.length} bytes is too short for an IDX header`);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (v.getUint32(0) !== magic) throw new DatasetFormatError(`${file}: bad magic number 0x${v.getUint32(0).toString(16).padStart(8, '0')}, expected 0x${magic.toString(16).padStart(8, '0')}`);
  const shape = Array.from({ length: dims }, (_, d) => v.getUint32(4 + 4 * d));
  const count = shape.reduce((a, b) => a * b, 1);
  if (buf.length !== header + count) throw new DatasetFormatError(`${file}: expected ${header + count} bytes, found ${buf.length}`);
  return { dims: shape, data: buf.subarray(header) };
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

/** Fetches one split (`train` or `t10k`) of an IDX dataset folder served at `baseUrl`. */
export async function fetchIdxSplit(baseUrl: string, split: 'train' | 'test'): Promise<ImageSet> {
  const prefix = split === 'train' ? 'train' : 't10k';
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const imgUrl = `${base}${prefix}-images-idx3-ubyte.gz`;
  const lblUrl = `${base}${prefix}-labels-idx1-ubyte.gz`;
  const [ib, lb] = await Promise.all([fetchBytes(imgUrl), fetchBytes(lblUrl)]);
  const images = parseIdxBytes(await gunzip(ib, imgUrl), imgUrl, 3);
  const labels = parseIdxBytes(await gunzip(lb, lblUrl), lblUrl, 1);
  const [n, h, w] = images.dims as [number, number, number];
  if (labels.dims[0] !== n) throw new DatasetFormatError(`${imgUrl} has ${n} images but ${lblUrl} has ${labels.dims[0]} labels`);
  return { count: n, height: h, width: w, images: images.data, labels: labels.data };
}

/**
 * Samples `indices` as an N×1×size×size float32 batch, `(x/255 − mean)/std` in float32 as
 * `toTensor` computes it, zero-padded (in pixel space, value 0) and centred when `size` exceeds
 * the stored size. Labels come as int64, the training graph's label type.
 */
export function makeBatch(set: ImageSet, indices: ArrayLike<number>, size: number, stats: { mean: readonly number[]; std: readonly number[] } = FASHION_STATS): { x: Tensor; labels: BigInt64Array } {
  const f = Math.fround;
  const m = f(stats.mean[0]!);
  const s = f(stats.std[0]!);
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = f(f(f(v / 255) - m) / s);
  const n = indices.length;
  const plane = size * size;
  const x = new Float32Array(n * plane).fill(lut[0]!);
  const labels = new BigInt64Array(n);
  const { height: h, width: w } = set;
  const oy = Math.floor((size - h) / 2);
  const ox = Math.floor((size - w) / 2);
  for (let k = 0; k < n; k++) {
    const i = indices[k]!;
    labels[k] = BigInt(set.labels[i]!);
    const src = i * h * w;
    for (let y = 0; y < h; y++) {
      const ty = y + oy;
      if (ty < 0 || ty >= size) continue;
      for (let xx = 0; xx < w; xx++) {
        const tx = xx + ox;
        if (tx < 0 || tx >= size) continue;
        x[k * plane + ty * size + tx] = lut[set.images[src + y * w + xx]!]!;
      }
    }
  }
  return { x: { dims: [n, 1, size, size], data: x }, labels };
}

/** One picture of the set as an 8-bit greyscale image (for previews and samples). */
export function imageAt(set: ImageSet, i: number): { width: number; height: number; channels: 1; data: Uint8Array } {
  const size = set.height * set.width;
  return { width: set.width, height: set.height, channels: 1, data: set.images.slice(i * size, (i + 1) * size) };
}
