/**
 * A minimal ZIP writer (stored entries, no compression — safetensors weights barely compress),
 * so the page can offer a trained model directory as one download that `unzip` opens.
 */

let crcTable: Uint32Array | undefined;

export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** DOS date/time of 1980-01-01 00:00 (fixed, so the archive is reproducible). */
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

/** Files (path → bytes, `/`-separated paths) as the bytes of a .zip archive. */
export function zipFiles(files: Record<string, Uint8Array>): Uint8Array {
  const enc = new TextEncoder();
  const entries = Object.entries(files).map(([path, data]) => ({ name: enc.encode(path), data, crc: crc32(data), offset: 0 }));
  let size = 22;
  for (const e of entries) size += 30 + e.name.length + e.data.length + 46 + e.name.length;
  if (size > 0xffffffff) throw new RangeError('zipFiles: archives over 4 GiB need ZIP64');
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  let at = 0;
  for (const e of entries) {
    e.offset = at;
    v.setUint32(at, 0x04034b50, true);
    v.setUint16(at + 4, 20, true); // version needed
    v.setUint16(at + 6, 0x0800, true); // UTF-8 names
    v.setUint16(at + 8, 0, true); // stored
    v.setUint16(at + 10, DOS_TIME, true);
    v.setUint16(at + 12, DOS_DATE, true);
    v.setUint32(at + 14, e.crc, true);
    v.setUint32(at + 18, e.data.length, true);
    v.setUint32(at + 22, e.data.length, true);
    v.setUint16(at + 26, e.name.length, true);
    v.setUint16(at + 28, 0, true);
    out.set(e.name, at + 30);
    out.set(e.data, at + 30 + e.name.length);
    at += 30 + e.name.length + e.data.length;
  }
  const cd = at;
  for (const e of entries) {
    v.setUint32(at, 0x02014b50, true);
    v.setUint16(at + 4, (3 << 8) | 20, true); // made by: Unix, 2.0
    v.setUint16(at + 6, 20, true);
    v.setUint16(at + 8, 0x0800, true);
    v.setUint16(at + 10, 0, true);
    v.setUint16(at + 12, DOS_TIME, true);
    v.setUint16(at + 14, DOS_DATE, true);
    v.setUint32(at + 16, e.crc, true);
    v.setUint32(at + 20, e.data.length, true);
    v.setUint32(at + 24, e.data.length, true);
    v.setUint16(at + 28, e.name.length, true);
    // extra, comment, disk, internal attrs: 0
    v.setUint32(at + 38, 0o100644 << 16, true); // external attrs: a regular file, rw-r--r--
    v.setUint32(at + 42, e.offset, true);
    out.set(e.name, at + 46);
    at += 46 + e.name.length;
  }
  v.setUint32(at, 0x06054b50, true);
  v.setUint16(at + 8, entries.length, true);
  v.setUint16(at + 10, entries.length, true);
  v.setUint32(at + 12, at - cd, true);
  v.setUint32(at + 16, cd, true);
  return out;
}
