/** Reading `.pth` files from disk: the Node shell around `pth.ts`. */
import { readPth, type PthReadOptions } from './pth.js';
import { readWeightBytes, type StoredTensor } from './safetensors-node.js';

/** Reads a `.pth` file from disk (see {@link readPth}); a missing or unreadable file is a WeightFormatError. */
export function loadPthFile(path: string, options: PthReadOptions = {}): Map<string, StoredTensor> {
  return readPth(readWeightBytes(path), path, options);
}
