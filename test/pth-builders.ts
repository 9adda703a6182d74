/**
 * Hand-built zip archives and pickles for the `.pth` reader's tests, so the format's corners
 * (and hostile files) are tested without Python.
 */
import { crc32, deflateRawSync } from 'node:zlib';

/** An entry already deflated (a bomb too large to build from its inflated bytes): the DEFLATE body, the inflated size and CRC. */
export interface Deflated {
  deflated: Uint8Array;
  size: number;
  crc: number;
}

/** A zip archive of `entries`, stored or deflated, optionally in ZIP64 form. */
export function makeZip(entries: [string, Uint8Array | Deflated][], opts: { deflate?: boolean; zip64?: boolean } = {}): Uint8Array {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  const sat = opts.zip64 ? 0xffffffff : -1;
  for (const [name, entry] of entries) {
    const pre = entry instanceof Uint8Array ? null : entry;
    const data = pre ? { length: pre.size } : (entry as Uint8Array);
    const deflate = !!pre || opts.deflate;
    const crc = pre ? pre.crc : crc32(entry as Uint8Array);
    const body = pre ? Buffer.from(pre.deflated) : opts.deflate ? deflateRawSync(entry as Uint8Array) : Buffer.from(entry as Uint8Array);
    const nameBytes = Buffer.from(name);
    const z64 = (...v: number[]): Buffer => {
      const b = Buffer.alloc(4 + 8 * v.length);
      b.writeUInt16LE(1, 0);
      b.writeUInt16LE(8 * v.length, 2);
      v.forEach((x, i) => b.writeBigUInt64LE(BigInt(x), 4 + 8 * i));
      return b;
    };
    const localExtra = opts.zip64 ? z64(data.length, body.length) : Buffer.alloc(0);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(45, 4);
    local.writeUInt16LE(deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(opts.zip64 ? sat : body.length, 18);
    local.writeUInt32LE(opts.zip64 ? sat : data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(localExtra.length, 28);
    const centralExtra = opts.zip64 ? z64(data.length, body.length, offset) : Buffer.alloc(0);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(45, 4);
    c.writeUInt16LE(45, 6);
    c.writeUInt16LE(deflate ? 8 : 0, 10);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(opts.zip64 ? sat : body.length, 20);
    c.writeUInt32LE(opts.zip64 ? sat : data.length, 24);
    c.writeUInt16LE(nameBytes.length, 28);
    c.writeUInt16LE(centralExtra.length, 30);
    c.writeUInt32LE(opts.zip64 ? sat : offset, 42);
    central.push(c, nameBytes, centralExtra);
    parts.push(local, nameBytes, localExtra, body);
    offset += local.length + nameBytes.length + localExtra.length + body.length;
  }
  const cd = Buffer.concat(central);
  const tail: Buffer[] = [];
  if (opts.zip64) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(0x06064b50, 0);
    rec.writeBigUInt64LE(44n, 4);
    rec.writeBigUInt64LE(BigInt(entries.length), 24);
    rec.writeBigUInt64LE(BigInt(entries.length), 32);
    rec.writeBigUInt64LE(BigInt(cd.length), 40);
    rec.writeBigUInt64LE(BigInt(offset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(offset + cd.length), 8);
    loc.writeUInt32LE(1, 16);
    tail.push(rec, loc);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(opts.zip64 ? 0xffff : entries.length, 8);
  eocd.writeUInt16LE(opts.zip64 ? 0xffff : entries.length, 10);
  eocd.writeUInt32LE(opts.zip64 ? sat : cd.length, 12);
  eocd.writeUInt32LE(opts.zip64 ? sat : offset, 16);
  return new Uint8Array(Buffer.concat([...parts, cd, ...tail, eocd]));
}

/** Pickle opcodes as bytes (protocol 2, as torch.save writes them). */
export const op = {
  proto2: [0x80, 2],
  mark: [0x28],
  tuple: [0x74],
  emptyTuple: [0x29],
  reduce: [0x52],
  setitems: [0x75],
  persid: [0x51],
  newfalse: [0x89],
  stop: [0x2e],
  emptyDict: [0x7d],
  str: (s: string): number[] => {
    const b = Buffer.from(s);
    return [0x58, ...u32(b.length), ...b];
  },
  int: (n: number): number[] => [0x4a, ...u32(n)],
  /** BINFLOAT: a big-endian float64. */
  float: (x: number): number[] => {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(x);
    return [0x47, ...b];
  },
  global: (module: string, name: string): number[] => [0x63, ...Buffer.from(`${module}\n${name}\n`)],
};
function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}
/** A tuple of ints. */
export const ints = (xs: number[]): number[] => [...op.mark, ...xs.flatMap(op.int), ...op.tuple];

/** `_rebuild_tensor_v2(storage(key, numel), offset, size, stride, False, OrderedDict())`. */
export function tensorPickle(
  storage: string,
  storageNumel: number,
  offset: number,
  size: number[],
  stride: number[],
  type = 'FloatStorage',
): number[] {
  return rebuildPickle({ storage, numel: op.int(storageNumel), offset: op.int(offset), size: ints(size), stride: ints(stride), type });
}

/** {@link tensorPickle} with each number given as pickle opcodes (to put a float or a string where an int belongs). */
export function rebuildPickle(p: {
  storage: string;
  numel: number[];
  offset: number[];
  size: number[];
  stride: number[];
  type?: string;
}): number[] {
  return [
    ...op.global('torch._utils', '_rebuild_tensor_v2'),
    ...op.mark,
    ...op.mark,
    ...op.str('storage'),
    ...op.global('torch', p.type ?? 'FloatStorage'),
    ...op.str(p.storage),
    ...op.str('cpu'),
    ...p.numel,
    ...op.tuple,
    ...op.persid,
    ...p.offset,
    ...p.size,
    ...p.stride,
    ...op.newfalse,
    ...op.global('collections', 'OrderedDict'),
    ...op.emptyTuple,
    ...op.reduce,
    ...op.tuple,
    ...op.reduce,
  ];
}

/** An OrderedDict pickle of `items` (key, value-pickle). */
export function dictPickle(items: [string, number[]][]): Uint8Array {
  return new Uint8Array([
    ...op.proto2,
    ...op.global('collections', 'OrderedDict'),
    ...op.emptyTuple,
    ...op.reduce,
    ...op.mark,
    ...items.flatMap(([k, v]) => [...op.str(k), ...v]),
    ...op.setitems,
    ...op.stop,
  ]);
}

export const f32 = (xs: number[]): Uint8Array => new Uint8Array(new Float32Array(xs).buffer);
export const pth = (pickle: Uint8Array, files: [string, Uint8Array | Deflated][] = []): Uint8Array =>
  makeZip([
    ['archive/data.pkl', pickle],
    ...files.map(([n, d]): [string, Uint8Array | Deflated] => [`archive/${n}`, d]),
    ['archive/version', Buffer.from('3\n')],
  ]);
