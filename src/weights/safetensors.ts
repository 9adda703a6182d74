/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON `{ key: { dtype, shape, data_offsets: [begin, end] }, …,
 * "__metadata__"?: { string: string } }`, then the raw little-endian tensor bytes, offsets
 * counted from the end of the header.
 *
 * Also home of what every weight reader shares: {@link StoredTensor}, the byte decoder and the
 * file reader, so `pth.ts` and `formats.ts` build on this module.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { WeightFormatError } from '../errors.js';
import { readSafetensors, writeSafetensors, type StoredTensor } from './safetensors-core.js';

export * from './safetensors-core.js';

/** Reads a whole weight file, turning a missing or unreadable file into a WeightFormatError. */
export function readWeightBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new WeightFormatError(`${path}: no such file`);
    if (code === 'EISDIR') throw new WeightFormatError(`${path}: is a directory, expected a weight file`);
    throw new WeightFormatError(`${path}: cannot read (${(e as Error).message})`);
  }
}

/** Reads a safetensors file from disk. */
export function loadSafetensorsFile(path: string): Map<string, StoredTensor> {
  return readSafetensors(readWeightBytes(path), path);
}

/**
 * Writes a safetensors file atomically: into a temporary file in the same folder, fsync'd,
 * then renamed over `path`, so a crash never leaves a half-written file under that name.
 */
export function saveSafetensorsFile(
  path: string,
  tensors: Map<string, StoredTensor> | Record<string, StoredTensor>,
  metadata?: Record<string, string>,
): void {
  writeFileAtomic(path, writeSafetensors(tensors, metadata));
}

/** Writes `bytes` to `path` via a same-folder temporary file, fsync and rename. */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  try { // make the rename itself durable; not every platform can fsync a folder
    const dir = openSync(dirname(path), 'r');
    try { fsyncSync(dir); } finally { closeSync(dir); }
  } catch { /* best effort */ }
}
