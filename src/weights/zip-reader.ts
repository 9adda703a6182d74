/**
 * The zip container of PyTorch `.pth` files, read from memory. No Node imports, so browsers
 * bundle it: bytes in, entries out.
 *
 * The directory parsing is ours and trusts no number in the file: every offset and length is
 * checked against the bytes there are, each local header must agree with its central-directory
 * record, entries may not overlap, and entry counts and inflated sizes are capped. DEFLATE-ed
 * entries inflate through fflate's streaming `Inflate`, stopped as soon as the output passes the
 * size the directory declared (a zip bomb is refused, not inflated). Every entry read is checked
 * against its CRC-32 (SheetJS's `crc-32`: fflate computes CRCs but does not export them, and
 * `node:zlib` would tie this module to Node). fflate's own `unzipSync` is not used: it accepts
 * overlapping ("phantom") entries, does not check CRC-32 and has no size limits (see
 * docs/LIBRARIES.md).
 */
import CRC32 from 'crc-32';
import { Inflate } from 'fflate';
import { InternalError, WeightFormatError } from '../errors.js';

/** One file of a zip archive, from its central-directory record. */
export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  crc32: number;
  compressedSize: number;
  /** Uncompressed size in bytes. */
  size: number;
  localHeaderOffset: number;
  /** Where the entry's (compressed) bytes start, right after its local header. */
  dataOffset: number;
}

/** A zip archive read from memory: its entries by name, and their contents. */
export interface ZipArchive {
  entries: Map<string, ZipEntry>;
  /** The uncompressed, CRC-checked contents of an entry (a view of the file when stored). */
  read(entry: ZipEntry): Uint8Array;
}

/** Caps on what an archive may make the reader do. */
export interface ZipLimits {
  /** Most entries the central directory may list. Default 100 000 (a GoogLeNet `.pth` has 346). */
  maxEntries?: number;
  /**
   * Most bytes the deflated entries may inflate to, all together, judged by the sizes the
   * directory declares before anything is inflated. Stored entries are views of the file and
   * do not count. Default 2 GiB.
   */
  maxInflatedBytes?: number;
  /** How the message that refuses an archive over `maxInflatedBytes` says to raise it. Default: none. */
  inflatedHint?: string;
}

export const ZIP_LIMITS: Readonly<Required<ZipLimits>> = { maxEntries: 100_000, maxInflatedBytes: 2 ** 31, inflatedHint: '' };

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SATURATED = 0xffffffff;
/** DEFLATE cannot expand by more than this (258-byte matches coded in about two bits). */
const MAX_DEFLATE_RATIO = 1032;
/** Compressed bytes pushed into the inflater at a time: bounds its output per push to ~17 MB. */
const INFLATE_CHUNK = 16 * 1024;

/** A string from the file, quoted for a one-line message (newlines escaped, long names cut). */
export function quoted(s: string): string {
  return JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}…` : s);
}

/** The file's bytes with bounds-checked little-endian reads; every failure names the file. */
class ZipBytes {
  readonly view: DataView;
  readonly names = new TextDecoder();
  constructor(
    readonly bytes: Uint8Array,
    readonly file: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  fail(msg: string): never {
    throw new WeightFormatError(`${this.file}: ${msg}`, { file: this.file });
  }
  private need(at: number, n: number): void {
    if (!(at >= 0 && at + n <= this.bytes.length))
      this.fail(`zip structure at byte ${at} runs past the end of the file (${this.bytes.length} bytes): truncated?`);
  }
  u16(at: number): number {
    this.need(at, 2);
    return this.view.getUint16(at, true);
  }
  u32(at: number): number {
    this.need(at, 4);
    return this.view.getUint32(at, true);
  }
  u64(at: number, what: string): number {
    this.need(at, 8);
    const v = this.view.getBigUint64(at, true);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? this.fail(`zip ${what} ${v} is too large`) : Number(v);
  }
  text(at: number, n: number): string {
    this.need(at, n);
    return this.names.decode(this.bytes.subarray(at, at + n));
  }
}

/** Where the central directory lies: `count` records in [offset, end). */
interface Directory {
  count: number;
  offset: number;
  end: number;
}

/**
 * Reads a zip archive's central directory (ZIP64 included) and checks every entry's local
 * header. Entries may be stored or deflated; encrypted entries, multi-disk archives, other
 * methods, overlapping entries and archives over `limits` are refused with a WeightFormatError
 * that names `file`.
 */
export function openZip(bytes: Uint8Array, file = '<memory>', limits: ZipLimits = {}): ZipArchive {
  const max = { ...ZIP_LIMITS, ...limits };
  const z = new ZipBytes(bytes, file);
  const dir = findDirectory(z);
  if (dir.count > max.maxEntries) z.fail(`zip archive lists ${dir.count} entries, over the limit of ${max.maxEntries}`);
  const entries = new Map<string, ZipEntry>();
  let at = dir.offset;
  let inflated = 0;
  for (let i = 0; i < dir.count; i++) {
    const [entry, next] = readCentralRecord(z, at, dir.end, i);
    if (entries.has(entry.name)) z.fail(`zip archive lists entry ${quoted(entry.name)} twice`);
    checkLocalHeader(z, entry, dir.offset);
    if (entry.method === 8) {
      inflated += entry.size;
      if (inflated > max.maxInflatedBytes) {
        z.fail(
          `zip entry ${quoted(entry.name)} brings the archive's inflated size to ${inflated} bytes, ` +
            (max.inflatedHint ? `more than ${max.inflatedHint}` : `over the limit of ${max.maxInflatedBytes}`),
        );
      }
    }
    entries.set(entry.name, entry);
    at = next;
  }
  if (at !== dir.end) z.fail(`zip central directory has ${dir.end - at} bytes left over after its ${dir.count} entries`);
  checkNoOverlap(z, [...entries.values()]);
  const read = (e: ZipEntry): Uint8Array => {
    if (entries.get(e.name) !== e) throw new InternalError(`openZip(${file}).read: ${quoted(e.name)} is not an entry of this archive`);
    return readEntry(z, e);
  };
  return { entries, read };
}

/** Finds the end-of-central-directory record (and its ZIP64 form) and checks where it points. */
function findDirectory(z: ZipBytes): Directory {
  const n = z.bytes.length;
  // The record is 22 bytes plus a comment of up to 65535 bytes; the last one whose comment fits wins.
  let eocd = -1;
  for (let at = n - 22; at >= Math.max(0, n - 22 - 0xffff); at--) {
    if (z.view.getUint32(at, true) === SIG_EOCD && at + 22 + z.u16(at + 20) <= n) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) z.fail('zip end-of-central-directory record not found (truncated or not a zip archive)');
  let count = z.u16(eocd + 10);
  let size = z.u32(eocd + 12);
  let offset = z.u32(eocd + 16);
  if (z.u16(eocd + 4) !== 0 || z.u16(eocd + 6) !== 0 || z.u16(eocd + 8) !== count) z.fail('multi-disk zip archives are not supported');
  let end = eocd;
  if (count === 0xffff || size === SATURATED || offset === SATURATED) {
    const loc = eocd - 20;
    if (loc < 0 || z.u32(loc) !== SIG_ZIP64_LOCATOR) z.fail('ZIP64 end-of-central-directory locator not found');
    if (z.u32(loc + 4) !== 0 || z.u32(loc + 16) > 1) z.fail('multi-disk zip archives are not supported');
    const rec = z.u64(loc + 8, 'ZIP64 record offset');
    if (rec + 56 > loc || z.u32(rec) !== SIG_ZIP64_EOCD) z.fail(`ZIP64 end-of-central-directory record not found at byte ${rec}`);
    if (z.u32(rec + 16) !== 0 || z.u32(rec + 20) !== 0) z.fail('multi-disk zip archives are not supported');
    count = z.u64(rec + 32, 'entry count');
    if (z.u64(rec + 24, 'entry count') !== count) z.fail('multi-disk zip archives are not supported');
    size = z.u64(rec + 40, 'central directory size');
    offset = z.u64(rec + 48, 'central directory offset');
    end = rec;
  }
  if (offset + size > end) {
    z.fail(`zip central directory [${offset}, ${offset + size}) runs past its end record at byte ${end}: truncated?`);
  }
  if (count * 46 > size) z.fail(`zip central directory of ${size} bytes cannot hold the ${count} entries it claims`);
  return { count, offset, end: offset + size };
}

/** Reads central-directory record `i` at `at` (which must end by `end`); returns it and where the next starts. */
function readCentralRecord(z: ZipBytes, at: number, end: number, i: number): [ZipEntry, number] {
  if (at + 46 > end || z.u32(at) !== SIG_CENTRAL) z.fail(`zip central directory entry ${i} is corrupt (at byte ${at})`);
  const flags = z.u16(at + 8);
  const nameLen = z.u16(at + 28);
  const extraLen = z.u16(at + 30);
  const commentLen = z.u16(at + 32);
  if (at + 46 + nameLen > end) z.fail(`zip central directory entry ${i}: its ${nameLen}-byte name runs past the end of the directory`);
  const name = z.text(at + 46, nameLen);
  const next = at + 46 + nameLen + extraLen + commentLen;
  if (next > end) {
    z.fail(
      `zip entry ${quoted(name)}: its extra field and comment (${extraLen} + ${commentLen} bytes) run past the end of the central directory`,
    );
  }
  const entry: ZipEntry = {
    name,
    method: z.u16(at + 10),
    crc32: z.u32(at + 16),
    compressedSize: z.u32(at + 20),
    size: z.u32(at + 24),
    localHeaderOffset: z.u32(at + 42),
    dataOffset: -1,
  };
  if (flags & 0x41) z.fail(`zip entry ${quoted(name)} is encrypted`);
  if (entry.method !== 0 && entry.method !== 8)
    z.fail(`zip entry ${quoted(name)} uses compression method ${entry.method} (expected 0 = stored or 8 = deflate)`);
  const disk = z.u16(at + 34);
  readZip64Extra(z, entry, at + 46 + nameLen, extraLen, disk === 0xffff);
  if (disk !== 0 && disk !== 0xffff) z.fail(`zip entry ${quoted(name)} lies on disk ${disk}: multi-disk zip archives are not supported`);
  if (entry.method === 0 && entry.compressedSize !== entry.size) {
    z.fail(
      `zip entry ${quoted(name)} is stored (not compressed) but declares ${entry.compressedSize} bytes stored and ${entry.size} bytes of content`,
    );
  }
  if (entry.method === 8 && entry.size > MAX_DEFLATE_RATIO * entry.compressedSize) {
    z.fail(
      `zip entry ${quoted(name)} declares ${entry.size} bytes inflated from ${entry.compressedSize}, more than DEFLATE's ${MAX_DEFLATE_RATIO}:1 can give`,
    );
  }
  return [entry, next];
}

/**
 * Walks the extra field of a central-directory record: each sub-field must fit, and the ZIP64
 * one (id 1) supplies 64-bit values for exactly the fields saturated at 0xffffffff.
 */
function readZip64Extra(z: ZipBytes, e: ZipEntry, start: number, len: number, diskSaturated: boolean): void {
  const end = start + len;
  let found = false;
  for (let x = start; x + 4 <= end;) {
    // fewer than 4 bytes left over are padding
    const id = z.u16(x);
    const size = z.u16(x + 2);
    if (x + 4 + size > end)
      z.fail(
        `zip entry ${quoted(e.name)}: extra field 0x${id.toString(16).padStart(4, '0')} (${size} bytes) runs past the end of its extra data`,
      );
    if (id === 1 && !found) {
      found = true;
      let f = x + 4;
      const next = (what: string): number => {
        if (f + 8 > x + 4 + size) z.fail(`zip entry ${quoted(e.name)} has a short ZIP64 extra field (no ${what})`);
        f += 8;
        return z.u64(f - 8, `entry ${what}`);
      };
      if (e.size === SATURATED) e.size = next('size');
      if (e.compressedSize === SATURATED) e.compressedSize = next('compressed size');
      if (e.localHeaderOffset === SATURATED) e.localHeaderOffset = next('header offset');
      if (diskSaturated && f + 4 <= x + 4 + size && z.u32(f) !== 0) z.fail('multi-disk zip archives are not supported');
    }
    x += 4 + size;
  }
  if (!found && (e.size === SATURATED || e.compressedSize === SATURATED || e.localHeaderOffset === SATURATED)) {
    z.fail(`zip entry ${quoted(e.name)} has ZIP64 placeholders (0xffffffff) but no ZIP64 extra field`);
  }
}

/**
 * Checks that entry `e`'s local header exists, agrees with its central record (name, method,
 * and CRC/sizes unless a data descriptor holds them) and that its data ends before the central
 * directory at `cdOffset`. Sets `e.dataOffset`.
 */
function checkLocalHeader(z: ZipBytes, e: ZipEntry, cdOffset: number): void {
  const h = e.localHeaderOffset;
  if (h + 30 > cdOffset || z.u32(h) !== SIG_LOCAL) z.fail(`zip entry ${quoted(e.name)} has no local header at byte ${h}`);
  const flags = z.u16(h + 6);
  const nameLen = z.u16(h + 26);
  const extraLen = z.u16(h + 28);
  const data = h + 30 + nameLen + extraLen;
  if (data > cdOffset) {
    z.fail(
      `zip entry ${quoted(e.name)}: its local header's name and extra field (${nameLen} + ${extraLen} bytes) run into the central directory at byte ${cdOffset}`,
    );
  }
  const localName = z.text(h + 30, nameLen);
  if (localName !== e.name) z.fail(`zip entry ${quoted(e.name)}: its local header at byte ${h} names ${quoted(localName)}`);
  const method = z.u16(h + 8);
  if (method !== e.method)
    z.fail(`zip entry ${quoted(e.name)}: its local header says compression method ${method}, the central directory ${e.method}`);
  if (flags & 0x41) z.fail(`zip entry ${quoted(e.name)} is encrypted`);
  // With a data descriptor (flag bit 3) the local CRC and sizes may be 0; ZIP64 saturates sizes.
  const agrees = (local: number, central: number, sized: boolean): boolean =>
    local === central || ((flags & 8) !== 0 && local === 0) || (sized && local === SATURATED);
  if (!agrees(z.u32(h + 14), e.crc32, false))
    z.fail(`zip entry ${quoted(e.name)}: its local header's CRC-32 differs from the central directory's`);
  if (!agrees(z.u32(h + 18), e.compressedSize, true) || !agrees(z.u32(h + 22), e.size, true)) {
    z.fail(`zip entry ${quoted(e.name)}: its local header's sizes differ from the central directory's`);
  }
  if (data + e.compressedSize > cdOffset) {
    z.fail(
      `zip entry ${quoted(e.name)} needs bytes [${data}, ${data + e.compressedSize}) but the central directory starts at byte ${cdOffset}: truncated?`,
    );
  }
  e.dataOffset = data;
}

/** Refuses entries whose header or data share bytes with another's (phantom entries). */
function checkNoOverlap(z: ZipBytes, entries: ZipEntry[]): void {
  const sorted = [...entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    const aEnd = a.dataOffset + a.compressedSize;
    if (b.localHeaderOffset < aEnd) {
      z.fail(
        `zip entry ${quoted(b.name)} starts at byte ${b.localHeaderOffset}, inside entry ${quoted(a.name)} (bytes [${a.localHeaderOffset}, ${aEnd})): overlapping entries are refused`,
      );
    }
  }
}

/** The contents of `e`: a view of the file when stored, inflated when deflated; CRC-checked. */
function readEntry(z: ZipBytes, e: ZipEntry): Uint8Array {
  const raw = z.bytes.subarray(e.dataOffset, e.dataOffset + e.compressedSize);
  const data = e.method === 0 ? raw : inflate(z, e, raw);
  if (crc32(data) !== e.crc32) z.fail(`zip entry ${quoted(e.name)} fails its CRC-32 check (corrupt file)`);
  return data;
}

/** Thrown inside the inflater's callback when the output passes the declared size. */
class InflateOverflow extends Error {}

/** Inflates `raw` into exactly `e.size` bytes, stopping as soon as the output would pass it. */
function inflate(z: ZipBytes, e: ZipEntry, raw: Uint8Array): Uint8Array {
  let out: Uint8Array;
  try {
    out = new Uint8Array(e.size);
  } catch {
    return z.fail(`zip entry ${quoted(e.name)} declares ${e.size} bytes, more than this JavaScript engine can allocate`);
  }
  let at = 0;
  const inflater = new Inflate((chunk) => {
    if (chunk.length > out.length - at) throw new InflateOverflow();
    out.set(chunk, at);
    at += chunk.length;
  });
  try {
    for (let i = 0; ; i += INFLATE_CHUNK) {
      const last = i + INFLATE_CHUNK >= raw.length;
      inflater.push(raw.subarray(i, i + INFLATE_CHUNK), last);
      if (last) break;
    }
  } catch (err) {
    if (err instanceof InflateOverflow)
      z.fail(`zip entry ${quoted(e.name)} inflates to more than the ${e.size} bytes its directory declares (a zip bomb?)`);
    z.fail(`zip entry ${quoted(e.name)} does not inflate (${(err as Error).message})`);
  }
  if (at !== e.size) z.fail(`zip entry ${quoted(e.name)} inflates to ${at} bytes, its directory says ${e.size}`);
  return out;
}

/** CRC-32 (IEEE, zlib's) of `data`, unsigned. */
function crc32(data: Uint8Array): number {
  return CRC32.buf(data) >>> 0;
}
