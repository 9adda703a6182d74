/** Weight files on disk in either format (the format check itself is `formats.ts`, platform-free). */
import { readStateDict } from './formats.js';
import { readWeightBytes, type StoredTensor } from './safetensors-node.js';

export { detectWeightFormat } from './formats.js';

/** Loads a state dict from a `.pth` or `.safetensors` file, whatever its extension. */
export function loadStateDict(path: string): Map<string, StoredTensor> {
  return readStateDict(readWeightBytes(path), path);
}
