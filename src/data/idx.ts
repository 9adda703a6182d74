/**
 * IDX files (LeCun's MNIST format, also Fashion-MNIST): the parser and the dataset built from a
 * pair of them, bytes in (no I/O here: `idx-node.ts` reads files, the browser fetches them).
 *
 * Layout (big-endian): bytes 0–1 are zero, byte 2 is the element type (0x08 = unsigned byte),
 * byte 3 the number of dimensions d, then d uint32 sizes, then the data row-major.
 * Images: magic 0x00000803, dims [N, H, W]. Labels: magic 0x00000801, dims [N].
 */
import { DatasetFormatError, OptionError } from '../errors.js';
import { getLimits, raiseHint } from '../limits.js';
import { MemoryDataset, toShared, type DatasetInfo } from './core.js';

const TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

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

/**
 * Counts what a gunzip of an IDX file produces and stops it once the output passes the size the
 * IDX header at its start promises, or `cap` bytes when there is no readable header: a gzip bomb
 * (gigabytes of zeros in a few megabytes) is refused after one chunk past that size, within
 * bounded memory. Node's zlib stream (`idx-node.ts`) and the browser's DecompressionStream
 * (`web/data.ts`) both feed it their chunks, so both keep the same limits.
 */
export class IdxInflateGuard {
  /** Bytes inflated so far. */
  total = 0;
  /** Header size + data size that the header declares; Infinity until the header is read. */
  private promised = Infinity;
  /** The first bytes: the magic number and up to 4 dimension sizes. */
  private readonly head = new Uint8Array(20);

  constructor(
    private readonly file: string,
    private readonly cap: number = getLimits().maxDatasetFileBytes,
  ) {}

  /**
   * Counts one chunk of inflated output.
   * @throws DatasetFormatError as soon as the output is not IDX (its first 4 bytes), its header
   *   declares more than `cap`, or the output passes what the header declares.
   */
  add(chunk: Uint8Array): void {
    const fail = (why: string): never => {
      throw new DatasetFormatError(`${this.file}: ${why}`, { file: this.file });
    };
    if (this.total < this.head.length) this.head.set(chunk.subarray(0, this.head.length - this.total), this.total);
    const before = this.total;
    this.total += chunk.length;
    const view = new DataView(this.head.buffer);
    const d = this.head[3]!;
    if (before < 4 && this.total >= 4 && (view.getUint16(0) !== 0 || this.head[2] !== 0x08 || d < 1 || d > 4))
      fail(
        `bad magic number ${hex32(view.getUint32(0))} at offset 0 after gunzip; not an IDX file of unsigned bytes (0x00000801 or 0x00000803)`,
      );
    if (this.promised === Infinity && this.total >= 4 + 4 * d) {
      const dims = Array.from({ length: d }, (_, i) => view.getUint32(4 + 4 * i));
      this.promised = 4 + 4 * d + dims.reduce((a, b) => a * b, 1);
      if (this.promised > this.cap)
        fail(
          `its IDX header declares ${dims.join('×')} = ${(this.promised - 4 - 4 * d).toLocaleString('en-US')} bytes of data, more than ${raiseHint('maxDatasetFileBytes')}`,
        );
    }
    if (this.total > Math.min(this.cap, this.promised)) {
      const why =
        this.total > this.cap
          ? `more than ${raiseHint('maxDatasetFileBytes')}`
          : `more than the ${this.promised} bytes its IDX header promises`;
      throw new DatasetFormatError(`${this.file}: inflates to ${why} (a gzip bomb or a damaged file)`, { file: this.file });
    }
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
    throw new DatasetFormatError(
      `${file}: ${buf.length} bytes is too short for an IDX header (expected magic ${hex32(expectedMagic)} at offset 0)`,
    );
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0);
  if (magic !== expectedMagic) {
    const type = buf[2] as number;
    const found =
      buf[0] === 0 && buf[1] === 0 && TYPE_NAMES[type]
        ? ` (${TYPE_NAMES[type]}, ${buf[3]} dimension${buf[3] === 1 ? '' : 's'})`
        : ' (not an IDX file)';
    const want =
      expectedDims === 3
        ? 'IDX images: unsigned bytes, 3 dimensions'
        : expectedDims === 1
          ? 'IDX labels: unsigned bytes, 1 dimension'
          : `IDX: unsigned bytes, ${expectedDims} dimensions`;
    throw new DatasetFormatError(
      `${file}: bad magic number ${hex32(magic)} at offset 0${found}; expected ${hex32(expectedMagic)} (${want})`,
    );
  }
  const headerBytes = 4 + 4 * expectedDims;
  if (buf.length < headerBytes) {
    throw new DatasetFormatError(
      `${file}: ${buf.length} bytes is too short for the ${headerBytes}-byte IDX header of ${expectedDims} dimensions (truncated)`,
    );
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
  if (count !== data.length)
    throw new OptionError(`encodeIdx: ${data.length} bytes do not fill dims [${dims.join(', ')}]`, { option: 'data' });
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x0800 + dims.length);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(data, header);
  return out;
}

/** One IDX file's bytes (already gunzipped) and the name its errors use (a path or a URL). */
export interface IdxFile {
  name: string;
  bytes: Uint8Array;
}

/**
 * An IDX image/label pair as a `MemoryDataset` (greyscale: channels = 1; pixels in a
 * SharedArrayBuffer where there is one, so loader workers share them).
 * @throws DatasetFormatError on bad magic numbers, truncated files, mismatched counts or labels ≥ numClasses.
 */
export function idxDataset(
  imagesFile: IdxFile,
  labelsFile: IdxFile,
  info: Omit<DatasetInfo, 'height' | 'width' | 'channels'>,
): MemoryDataset {
  const images = parseIdx(imagesFile.bytes, imagesFile.name, 3);
  const labels = parseIdx(labelsFile.bytes, labelsFile.name, 1);
  const [n, h, w] = images.dims as [number, number, number];
  // The image size becomes the model's input size: 1000×1000 images would need gigabytes per batch.
  const side = getLimits().maxDatasetImageSide;
  if (h > side || w > side || h < 1 || w < 1) {
    throw new DatasetFormatError(
      `${imagesFile.name}: ${h}×${w} images; expected sides from 1 to ${side} (${raiseHint('maxDatasetImageSide')})`,
      {
        file: imagesFile.name,
      },
    );
  }
  const nl = labels.dims[0] as number;
  if (n !== nl) {
    throw new DatasetFormatError(`${imagesFile.name} has ${n} images but ${labelsFile.name} has ${nl} labels; the counts must match`);
  }
  const k = info.numClasses;
  const headerBytes = 8;
  for (let i = 0; i < nl; i++) {
    const l = labels.data[i] as number;
    if (l >= k) {
      throw new DatasetFormatError(
        `${labelsFile.name}: label ${l} of sample ${i} (offset ${headerBytes + i}) is out of range; ${info.name} has ${k} classes (0–${k - 1})`,
      );
    }
  }
  return new MemoryDataset({ ...info, channels: 1, height: h, width: w }, toShared(images.data), Uint8Array.from(labels.data));
}
