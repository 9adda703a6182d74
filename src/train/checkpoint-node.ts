/**
 * Checkpoint files: written atomically (`files-node.ts`), so a failed write (disk full, read-only
 * folder, a crash) leaves the previous checkpoint exactly as it was; the format is `checkpoint.ts`'s.
 */
import { CheckpointWriteError, WeightFormatError } from '../errors.js';
import { readRegularFile, writeFileAtomic, type FileIo } from '../files-node.js';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from './checkpoint.js';

/** Writes a checkpoint atomically; `io` replaces the file-system calls (tests make them fail). */
export function saveCheckpoint<C>(path: string, c: Checkpoint<C>, io?: FileIo): void {
  writeFileAtomic(path, encodeCheckpoint(c), { what: 'checkpoint', error: CheckpointWriteError, ...(io ? { io } : {}) });
}

/** Reads a checkpoint file. @throws WeightFormatError for a missing, truncated or foreign file. */
export function loadCheckpoint<C = unknown>(path: string): Checkpoint<C> {
  const bytes = readRegularFile(path, {
    what: 'checkpoint',
    error: WeightFormatError,
    missing: 'no checkpoint to resume from (no such file)',
  });
  return decodeCheckpoint<C>(bytes, path);
}
