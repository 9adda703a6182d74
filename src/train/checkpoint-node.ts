/**
 * Checkpoint files: written atomically (`files-node.ts`), so a failed write (disk full, read-only
 * folder, a crash) leaves the previous checkpoint exactly as it was; the format is `checkpoint.ts`'s.
 */
import { readFileSync } from 'node:fs';
import { CheckpointWriteError, WeightFormatError } from '../errors.js';
import { writeFileAtomic, type FileIo } from '../files-node.js';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from './checkpoint.js';

/** Writes a checkpoint atomically; `io` replaces the file-system calls (tests make them fail). */
export function saveCheckpoint<C>(path: string, c: Checkpoint<C>, io?: FileIo): void {
  writeFileAtomic(path, encodeCheckpoint(c), { what: 'checkpoint', error: CheckpointWriteError, ...(io ? { io } : {}) });
}

/** Reads a checkpoint file. @throws WeightFormatError for a missing, truncated or foreign file. */
export function loadCheckpoint<C = unknown>(path: string): Checkpoint<C> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new WeightFormatError(
      code === 'ENOENT'
        ? `${path}: no checkpoint to resume from (no such file)`
        : `${path}: cannot read checkpoint (${(e as Error).message})`,
    );
  }
  return decodeCheckpoint<C>(bytes, path);
}
