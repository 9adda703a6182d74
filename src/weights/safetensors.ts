/**
 * The pure part of the safetensors reader and writer (no Node imports, so browsers bundle it);
 * `safetensors.ts` re-exports all of it and adds the file helpers.
 *
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON `{ key: { dtype, shape, data_offsets: [begin, end] }, …,
 * "__metadata__"?: { string: string } }`, then the raw little-endian tensor bytes, offsets
 * counted from the end of the header.
 *
 * Also home of what every weight reader shares: {@link StoredTensor} and the byte decoder.
 */
import CRC32 from 'crc-32';
import { WeightFormatError } from '../errors.js';
import { getLimits, raiseHint } from '../limits.js';
import { numel, type TensorArray } from '../tensor.js';

/**
 * Element types of stored tensors, with safetensors' names. `F16` and `BF16` exist only in
 * files: readers widen them to `Float32Array` and report `F32`; the writer narrows a
 * `Float32Array` to 16 bits when asked for `F16` or `BF16`.
 */
export type StoredDType = 'F32' | 'F64' | 'I64' | 'I32' | 'U8' | 'I8' | 'F16' | 'BF16';

/** A tensor as read from or written to a weight file: row-major, PyTorch layouts. */
export interface StoredTensor {
  dtype: StoredDType;
  dims: number[];
  /** Owns its buffer (never a view of the file), so it is aligned and safe to keep. */
  data: TensorArray;
}

/**
 * The metadata key of the CRC-32 of the data section (8 hex digits), which googlenet-ts writes
 * into its model files and checkpoints and every reader verifies; files without it still load.
 */
const CHECKSUM_KEY = 'googlenet-ts.crc32';

const crcHex = (crc: number): string => (crc >>> 0).toString(16).padStart(8, '0');

/**
 * The first key that occurs twice at the top level of a JSON object's text (JSON.parse keeps
 * the last silently), or undefined. `text` is valid JSON (already parsed).
 */
function firstDuplicateKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
    else if (ch === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && /^\s*:/.test(text.slice(j + 1, j + 20))) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
      }
      i = j;
    }
  }
  return undefined;
}

/** Bytes per element of each stored dtype (`BOOL` reads as `U8`). */
export const DTYPE_BYTES: Readonly<Record<StoredDType | 'BOOL', number>> = {
  F64: 8,
  I64: 8,
  F32: 4,
  I32: 4,
  F16: 2,
  BF16: 2,
  U8: 1,
  I8: 1,
  BOOL: 1,
};

const METADATA_KEY = '__metadata__';

/**
 * Copies little-endian `bytes` (a whole number of `dtype` elements) into a fresh, aligned typed
 * array; F16/BF16 widen to Float32Array. The host is assumed little-endian (every platform
 * Node and browsers ship on); pass `bigEndian` for data written on a big-endian machine.
 */
export function decodeTensorBytes(bytes: Uint8Array, dtype: StoredDType, bigEndian = false): TensorArray {
  const copy = new Uint8Array(bytes); // a copy with its own buffer (a Buffer's slice() would alias): aligned
  const size = DTYPE_BYTES[dtype];
  if (bigEndian && size > 1) {
    for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  }
  const buf = copy.buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf);
    case 'F64':
      return new Float64Array(buf);
    case 'I64':
      return new BigInt64Array(buf);
    case 'I32':
      return new Int32Array(buf);
    case 'U8':
      return copy;
    case 'I8':
      return new Int8Array(buf);
    case 'F16':
      return Float32Array.from(new Uint16Array(buf), halfToFloat);
    case 'BF16': {
      const half = new Uint16Array(buf);
      const out = new Float32Array(half.length);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < half.length; i++) bits[i] = half[i]! << 16;
      return out;
    }
  }
}

/** The dtype a reader reports for data stored as `dtype` (16-bit floats are widened). */
export function widenedDType(dtype: StoredDType): StoredDType {
  return dtype === 'F16' || dtype === 'BF16' ? 'F32' : dtype;
}

/** A parsed safetensors file. */
export interface Safetensors {
  tensors: Map<string, StoredTensor>;
  /** The header's `__metadata__` (string → string), empty when absent. */
  metadata: Record<string, string>;
}

/**
 * Parses a safetensors file, validating the header against the bytes: every failure is a
 * one-line WeightFormatError naming `file` and the tensor key. Tensors come in header order;
 * F16/BF16 tensors are widened to Float32Array and reported as `F32`; BOOL reads as `U8`.
 */
export function parseSafetensors(bytes: Uint8Array, file = '<memory>'): Safetensors {
  const fail = (msg: string): never => {
    throw new WeightFormatError(`${file}: ${msg}`, { file });
  };
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, a safetensors file starts with an 8-byte header length`);
  const headerLen = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(bytes.length - 8)) {
    fail(`header length ${headerLen} runs past the end of the file (${bytes.length} bytes): truncated or not safetensors`);
  }
  // Parsed JSON can take 50 times its bytes (a header of nested arrays): refused before parsing.
  if (headerLen > BigInt(getLimits().maxJsonBytes)) fail(`header of ${headerLen} bytes is more than ${raiseHint('maxJsonBytes')}`);
  const dataStart = 8 + Number(headerLen);
  const dataLen = bytes.length - dataStart;

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(header)) return fail(`header is ${describe(header)}, expected a JSON object`);
  const dup = firstDuplicateKey(new TextDecoder().decode(bytes.subarray(8, dataStart)));
  if (dup !== undefined) fail(`header names tensor "${dup}" twice (the safetensors format forbids duplicate keys)`);

  const metadata: Record<string, string> = {};
  const raw = header[METADATA_KEY];
  if (raw !== undefined) {
    if (!isObject(raw)) fail(`"${METADATA_KEY}" is ${describe(raw)}, expected an object of strings`);
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(`"${METADATA_KEY}" entry "${k}" is ${describe(v)}, expected a string`);
      metadata[k] = v as string;
    }
  }

  const spans: { key: string; begin: number; end: number }[] = [];
  const entries: { key: string; dtype: StoredDType | 'BOOL'; dims: number[]; begin: number; end: number }[] = [];
  for (const [key, entry] of Object.entries(header)) {
    if (key === METADATA_KEY) continue;
    const where = `tensor "${key}"`;
    if (!isObject(entry)) return fail(`${where} is ${describe(entry)}, expected { dtype, shape, data_offsets }`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) {
      return fail(`${where} has unsupported dtype ${JSON.stringify(dtype)} (expected one of ${Object.keys(DTYPE_BYTES).join(', ')})`);
    }
    if (!isIntArray(shape)) return fail(`${where} shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!isIntArray(offsets) || offsets.length !== 2) {
      return fail(`${where} data_offsets ${JSON.stringify(offsets)} is not a pair [begin, end] of non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLen) {
      fail(`${where} data_offsets [${begin}, ${end}] lie outside the ${dataLen} data bytes`);
    }
    const size = DTYPE_BYTES[dtype as StoredDType | 'BOOL'];
    const need = numel(shape) * size;
    if (need !== end - begin) {
      fail(`${where} needs ${need} bytes (${dtype} [${shape.join(', ')}]) but its offsets span ${end - begin}`);
    }
    entries.push({ key, dtype: dtype as StoredDType | 'BOOL', dims: shape, begin, end });
    spans.push({ key, begin, end });
  }

  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < spans.length; i++) {
    const a = spans[i - 1]!;
    const b = spans[i]!;
    if (b.begin < a.end) {
      fail(`tensors "${a.key}" [${a.begin}, ${a.end}] and "${b.key}" [${b.begin}, ${b.end}] overlap`);
    }
  }

  // The format's rule: the data bytes are entirely indexed, without holes or trailing bytes.
  let covered = 0;
  for (const sp of spans) {
    if (sp.begin > covered)
      fail(`data bytes [${covered}, ${sp.begin}) belong to no tensor (a hole before "${sp.key}"); the format forbids holes`);
    covered = Math.max(covered, sp.end);
  }
  if (covered !== dataLen) fail(`${dataLen - covered} trailing bytes after the last tensor's data; the format forbids them`);

  const want = metadata[CHECKSUM_KEY];
  if (want !== undefined) {
    const got = crcHex(CRC32.buf(bytes.subarray(dataStart), 0));
    if (got !== want) fail(`checksum mismatch (CRC-32 of the tensor data is ${got}, the header says ${want}): the file is damaged`);
  }

  const tensors = new Map<string, StoredTensor>();
  for (const { key, dtype, dims, begin, end } of entries) {
    const stored = dtype === 'BOOL' ? 'U8' : dtype;
    const data = decodeTensorBytes(bytes.subarray(dataStart + begin, dataStart + end), stored);
    tensors.set(key, { dtype: widenedDType(stored), dims, data });
  }
  return { tensors, metadata };
}

/** The tensors of a safetensors file (see {@link parseSafetensors}). */
export function readSafetensors(bytes: Uint8Array, file = '<memory>'): Map<string, StoredTensor> {
  return parseSafetensors(bytes, file).tensors;
}

/**
 * Serializes tensors (in iteration order) to safetensors bytes. `data` must be the typed array
 * of `dtype` (Float32Array for F32, BigInt64Array for I64, …); for F16/BF16 it is a Float32Array
 * that is rounded (to nearest, ties to even) to 16 bits. The header is space-padded to a
 * multiple of 8 bytes, so every tensor starts 8-byte aligned.
 */
export function writeSafetensors(
  tensors: Map<string, StoredTensor> | Record<string, StoredTensor>,
  metadata?: Record<string, string>,
  options: { checksum?: boolean } = {},
): Uint8Array {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header[METADATA_KEY] = metadata;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [key, t] of list) {
    if (key === METADATA_KEY)
      throw new WeightFormatError(`<memory>: "${METADATA_KEY}" is reserved and cannot name a tensor`, { file: '<memory>' });
    const blob = encodeTensor(key, t);
    header[key] = { dtype: t.dtype, shape: t.dims, data_offsets: [offset, offset + blob.length] };
    blobs.push(blob);
    offset += blob.length;
  }
  if (options.checksum) {
    let crc = 0;
    for (const b of blobs) crc = CRC32.buf(b, crc);
    header[METADATA_KEY] = { ...metadata, [CHECKSUM_KEY]: crcHex(crc) };
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20); // spaces: still valid JSON
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const b of blobs) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

const ARRAY_OF = { F32: Float32Array, F64: Float64Array, I64: BigInt64Array, I32: Int32Array, U8: Uint8Array, I8: Int8Array } as const;

/** The little-endian bytes of one tensor, checked against its dtype and dims. */
function encodeTensor(key: string, t: StoredTensor): Uint8Array {
  const where = `<memory>: tensor "${key}"`;
  const narrow = t.dtype === 'F16' || t.dtype === 'BF16';
  if (!narrow && !Object.hasOwn(ARRAY_OF, t.dtype)) {
    throw new WeightFormatError(
      `${where} has unsupported dtype ${JSON.stringify(t.dtype)} (expected one of ${Object.keys(DTYPE_BYTES)
        .filter((d) => d !== 'BOOL')
        .join(', ')})`,
      { file: '<memory>' },
    );
  }
  const expected = t.dtype === 'F16' || t.dtype === 'BF16' ? Float32Array : ARRAY_OF[t.dtype];
  if (!(t.data instanceof expected)) {
    throw new WeightFormatError(`${where} is ${t.dtype} but its data is a ${t.data.constructor.name}, expected a ${expected.name}`, {
      file: '<memory>',
    });
  }
  const n = numel(t.dims);
  if (t.data.length !== n) {
    throw new WeightFormatError(`${where} dims [${t.dims.join(', ')}] need ${n} values but data has ${t.data.length}`, {
      file: '<memory>',
    });
  }
  if (narrow) {
    const src = t.data as Float32Array;
    const bits = new Uint16Array(n);
    const u32 = new Uint32Array(src.buffer, src.byteOffset, n);
    for (let i = 0; i < n; i++) bits[i] = t.dtype === 'F16' ? floatBitsToHalf(u32[i]!) : floatBitsToBF16(u32[i]!);
    return new Uint8Array(bits.buffer);
  }
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** IEEE half (as its 16 bits) → number. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** float32 bits → half bits, round to nearest even (overflow → ±Inf, NaN stays NaN). */
function floatBitsToHalf(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // subnormal half (or zero): value = m · 2^-24
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    let h = m >>> shift;
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry rolls into the exponent correctly
  return h;
}

/** float32 bits → bfloat16 bits, round to nearest even. */
function floatBitsToBF16(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) & 0x8000) | 0x7fc0;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isIntArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isSafeInteger(x) && x >= 0);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}
