/**
 * IDX files (LeCun's MNIST format, also Fashion-MNIST), raw or gzipped.
 *
 * Layout (big-endian): bytes 0–1 are zero, byte 2 is the element type (0x08 = unsigned byte),
 * byte 3 the number of dimensions d, then d uint32 sizes, then the data row-major.
 * Images: magic 0x00000803, dims [N, H, W]. Labels: magic 0x00000801, dims [N].
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzip as gunzipCb } from 'node:zlib';
import { promisify } from 'node:util';
import { DatasetFormatError } from '../errors.js';
import { MemoryDataset, toShared, type DatasetInfo } from './core.js';

const gunzip = promisify(gunzipCb);

const TYPE_NAMES: Record<number, string> = { 0x08: 'unsigned byte', 0x09: 'signed byte', 0x0b: 'int16', 0x0c: 'int32', 0x0d: 'float32', 0x0e: 'float64' };

const hex32 = (v: number): string => '0x' + (v >>> 0).toString(16).padStart(8, '0');

/** An IDX array of unsigned bytes. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** True when `buf` starts with the gzip magic 1f 8b (checked on content, not on the file name). */
export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** Reads a file and gunzips it when it is gzip; gzip errors become one-line `DatasetFormatError`s naming the file. */
export async function readMaybeGzip(file: string): Promise<Uint8Array> {
  let raw: Buffer;
  try {
    raw = await readFile(file);
  } catch (e) {
    throw new DatasetFormatError(`cannot read ${file}: ${(e as Error).message}`);
  }
  if (!isGzip(raw)) return raw;
  try {
    return await gunzip(raw);
  } catch (e) {
    const msg = (e as Error).message;
    const what = /unexpected end/i.test(msg) ? 'truncated gzip stream' : 'corrupt gzip stream';
    throw new DatasetFormatError(`${file}: ${what} (${msg}); download it again`);
  }
}

/**
 * Parses an IDX buffer of unsigned bytes with `expectedDims` dimensions. The returned `data` is
 * a view into `buf` (no copy).
 * @throws DatasetFormatError on a short header, a wrong magic number or a size that does not match the header.
 */
export function parseIdx(buf: Uint8Array, file: string, expectedDims: number): IdxArray {
  const expectedMagic = 0x0800 + expectedDims;
  if (buf.length < 4) {
    throw new DatasetFormatError(`${file}: ${buf.length} bytes is too short for an IDX header (expected magic ${hex32(expectedMagic)} at offset 0)`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0);
  if (magic !== expectedMagic) {
    const type = buf[2] as number;
    const found = buf[0] === 0 && buf[1] === 0 && TYPE_NAMES[type] ? ` (${TYPE_NAMES[type]}, ${buf[3]} dimension${buf[3] === 1 ? '' : 's'})` : ' (not an IDX file)';
    const want = expectedDims === 3 ? 'IDX images: unsigned bytes, 3 dimensions' : expectedDims === 1 ? 'IDX labels: unsigned bytes, 1 dimension' : `IDX: unsigned bytes, ${expectedDims} dimensions`;
    throw new DatasetFormatError(`${file}: bad magic number ${hex32(magic)} at offset 0${found}; expected ${hex32(expectedMagic)} (${want})`);
  }
  const headerBytes = 4 + 4 * expectedDims;
  if (buf.length < headerBytes) {
    throw new DatasetFormatError(`${file}: ${buf.length} bytes is too short for the ${headerBytes}-byte IDX header of ${expectedDims} dimensions (truncated)`);
  }
  const dims: number[] = [];
  for (let d = 0; d < expectedDims; d++) dims.push(view.getUint32(4 + 4 * d));
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = headerBytes + count;
  if (buf.length !== expected) {
    const how = buf.length < expected ? 'truncated' : `${buf.length - expected} bytes too long`;
    throw new DatasetFormatError(
      `${file}: expected ${expected} bytes (${headerBytes}-byte header + ${dims.join('×')} data), found ${buf.length} (${how})`,
    );
  }
  return { dims, data: buf.subarray(headerBytes) };
}

/** Encodes unsigned bytes as an IDX file (magic 0x0000080d where d = dims.length). */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new RangeError(`encodeIdx: ${data.length} bytes do not fill dims [${dims.join(', ')}]`);
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x0800 + dims.length);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(data, header);
  return out;
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
    throw new DatasetFormatError(`${datasetName}: cannot find ${names[0]}[.gz] in ${dir} (also looked in raw/, MNIST/raw/, FashionMNIST/raw/)${dl}`);
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
 * Loads an IDX image/label pair into a `MemoryDataset` (pixels in a SharedArrayBuffer so loader
 * workers share them). Greyscale: channels = 1.
 * @throws DatasetFormatError on bad magic numbers, truncated files, mismatched counts or labels ≥ numClasses.
 */
export async function loadIdxDataset(options: IdxDatasetOptions): Promise<MemoryDataset> {
  const [imgBuf, lblBuf] = await Promise.all([readMaybeGzip(options.images), readMaybeGzip(options.labels)]);
  const images = parseIdx(imgBuf, options.images, 3);
  const labels = parseIdx(lblBuf, options.labels, 1);
  const [n, h, w] = images.dims as [number, number, number];
  const nl = labels.dims[0] as number;
  if (n !== nl) {
    throw new DatasetFormatError(`${options.images} has ${n} images but ${options.labels} has ${nl} labels; the counts must match`);
  }
  const k = options.info.numClasses;
  const headerBytes = 8;
  for (let i = 0; i < nl; i++) {
    const l = labels.data[i] as number;
    if (l >= k) {
      throw new DatasetFormatError(
        `${options.labels}: label ${l} of sample ${i} (offset ${headerBytes + i}) is out of range; ${options.info.name} has ${k} classes (0–${k - 1})`,
      );
    }
  }
  return new MemoryDataset({ ...options.info, channels: 1, height: h, width: w }, toShared(images.data), Uint8Array.from(labels.data));
}
