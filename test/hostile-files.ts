/**
 * Hostile files too large to build byte by byte, for the bounded-memory runs of the real CLI
 * (test/hostile-cli.test.ts): DEFLATE and gzip streams of gigabytes of zeros made of one repeated
 * segment (a full flush resets the compressor, so each MiB of zeros compresses to the same ~1 KB),
 * a `.pth` whose one storage inflates to gigabytes, a view with stride 0.
 */
import { constants, crc32, deflateRawSync } from 'node:zlib';
import { dictPickle, pth, tensorPickle, type Deflated } from './pth-builders.js';

const MiB = 1 << 20;
const ZEROS = Buffer.alloc(MiB);
const SEGMENT = deflateRawSync(ZEROS, { level: 9, finishFlush: constants.Z_FULL_FLUSH });
/** An empty final block, which ends the stream. */
const FINAL = deflateRawSync(Buffer.alloc(0));

/** `prefix` then `mib` MiB of zeros, deflated (raw DEFLATE), with the inflated size and CRC-32. */
function deflatedZeros(prefix: Uint8Array, mib: number): Deflated {
  const head = deflateRawSync(prefix, { finishFlush: constants.Z_FULL_FLUSH });
  let crc = crc32(prefix);
  for (let i = 0; i < mib; i++) crc = crc32(ZEROS, crc);
  return { deflated: Buffer.concat([head, ...Array<Buffer>(mib).fill(SEGMENT), FINAL]), size: prefix.length + mib * MiB, crc };
}

/** A gzip file of `prefix` then `mib` MiB of zeros (a few KB per GB). */
export function gzippedZeros(prefix: Uint8Array, mib: number): Uint8Array {
  const d = deflatedZeros(prefix, mib);
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(d.crc >>> 0, 0);
  trailer.writeUInt32LE(d.size % 2 ** 32, 4);
  return Buffer.concat([header, d.deflated, trailer]);
}

/** A `.pth` state dict whose one float tensor "fc.weight" lies on a storage of `mib` MiB of zeros (honestly declared). */
export function pthBomb(mib: number): Uint8Array {
  const n = (mib * MiB) / 4;
  return pth(dictPickle([['fc.weight', tensorPickle('0', n, 0, [n], [1])]]), [['data/0', deflatedZeros(new Uint8Array(0), mib)]]);
}

/** A `.pth` state dict with a side×side view of stride [0, 0] over a one-float storage. */
export function pthStrideZero(side: number): Uint8Array {
  return pth(dictPickle([['fc.weight', tensorPickle('0', 1, 0, [side, side], [0, 0])]]), [['data/0', new Uint8Array(4)]]);
}

/** The 4 + 4·d header bytes of an IDX file of unsigned bytes with these dimensions (no data). */
export function idxHeader(dims: number[]): Uint8Array {
  const b = Buffer.alloc(4 + 4 * dims.length);
  b.writeUInt32BE(0x800 + dims.length, 0);
  dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
  return b;
}

/** A safetensors file whose header is `n` bytes of nested JSON arrays (`[[[…]]]`), which take ~50 times that once parsed. */
export function nestedHeaderSafetensors(n: number): Uint8Array {
  const b = Buffer.alloc(8 + n);
  b.writeBigUInt64LE(BigInt(n), 0);
  b.fill('[', 8, 8 + n / 2);
  b.fill(']', 8 + n / 2);
  return b;
}

/** A safetensors file whose one tensor declares `shape` (far more than the few bytes it holds). */
export function hugeShapeSafetensors(shape: number[]): Uint8Array {
  const bytes = shape.reduce((a, b) => a * b, 4);
  const json = Buffer.from(JSON.stringify({ 'fc.weight': { dtype: 'F32', shape, data_offsets: [0, bytes] } }));
  const b = Buffer.alloc(8 + json.length + 8);
  b.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(b, 8);
  return b;
}
