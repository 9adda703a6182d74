/**
 * IDX files (LeCun's MNIST format, also Fashion-MNIST): the parser and the dataset built from a
 * pair of them, bytes in (no I/O here: `idx-node.ts` reads files, the browser fetches them).
 *
 * Layout (big-endian): bytes 0–1 are zero, byte 2 is the element type (0x08 = unsigned byte),
 * byte 3 the number of dimensions d, then d uint32 sizes, then the data row-major.
 * Images: magic 0x00000803, dims [N, H, W]. Labels: magic 0x00000801, dims [N].
 */
import { DatasetFormatError } from '../errors.js';
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
  if (count !== data.length) throw new RangeError(`encodeIdx: ${data.length} bytes do not fill dims [${dims.join(', ')}]`);
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
