/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON `{ key: { dtype, shape, data_offsets: [begin, end] }, …,
 * "__metadata__"?: { string: string } }`, then the raw little-endian tensor bytes, offsets
 * counted from the end of the header.
 *
 * Also home of what every weight reader shares: {@link StoredTensor}, the byte decoder and the
 * file reader, so `pth-node.ts` and `formats.ts` build on this module.
 */
import { readRegularFile, writeFileAtomic } from '../files-node.js';
import { WeightFormatError } from '../errors.js';
import { readSafetensors, writeSafetensors, type StoredTensor } from './safetensors.js';

export * from './safetensors.js';

/** Reads a whole weight file (regular files only), turning a missing or unreadable file into a WeightFormatError. */
export function readWeightBytes(path: string): Uint8Array {
  return readRegularFile(path, { what: 'weight file', error: WeightFormatError });
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
  writeFileAtomic(path, writeSafetensors(tensors, metadata), { what: 'weight file' });
}
