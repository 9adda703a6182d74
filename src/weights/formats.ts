/**
 * Loading a state dict from any supported weight file, chosen by content rather than by name:
 * a zip archive (`PK\x03\x04`) is a PyTorch `.pth`, anything whose 8-byte length prefix is
 * followed by `{` is safetensors. Bytes in, tensors out: Node (`formats-node.ts`) reads files,
 * the browser (`web/weights.ts`) fetches them.
 */
import { WeightFormatError } from '../errors.js';
import { readPth } from './pth.js';
import { readSafetensors, type StoredTensor } from './safetensors.js';

export type WeightFileFormat = 'pth' | 'safetensors';

/**
 * Names the format of a weight file from its first bytes, or throws a WeightFormatError for an
 * empty, truncated or unrecognized file (including the pre-1.6 torch.save format).
 */
export function detectWeightFormat(bytes: Uint8Array, file = '<memory>'): WeightFileFormat {
  if (bytes.length === 0)
    throw new WeightFormatError(`${file}: empty file (0 bytes), expected a .pth or .safetensors weight file`, { file });
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return 'pth';
  if (bytes.length >= 9 && bytes[8] === 0x7b) return 'safetensors'; // '{' opens the JSON header
  if (bytes[0] === 0x80 && bytes[1] === 0x02 && bytes[2] === 0x8a) {
    // pickle of torch's legacy magic number
    throw new WeightFormatError(`${file}: legacy torch.save format (torch < 1.6) is not supported: re-save it with a newer torch`, {
      file,
    });
  }
  if (bytes.length < 9) {
    throw new WeightFormatError(`${file}: truncated (${bytes.length} bytes): too short for a .pth or .safetensors weight file`, { file });
  }
  const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new WeightFormatError(
    `${file}: unrecognized weight format: expected a zip archive (PyTorch .pth) or a safetensors header, found bytes ${head}`,
    { file },
  );
}

/** Reads a state dict from bytes in either format (see {@link detectWeightFormat}). */
export function readStateDict(bytes: Uint8Array, file = '<memory>'): Map<string, StoredTensor> {
  return detectWeightFormat(bytes, file) === 'pth' ? readPth(bytes, file) : readSafetensors(bytes, file);
}
