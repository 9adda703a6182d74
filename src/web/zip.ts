/**
 * The page's model-directory download: files as one .zip that `unzip` opens, written by fflate's
 * `zipSync`. Entries are stored, not deflated: float32 weights (nearly all the bytes) shrink by
 * about 7 % under DEFLATE, and compressing 25 MB of them would freeze the page's main thread for
 * over a second.
 */
import { zipSync, type Zippable } from 'fflate';
import { FileWriteError } from '../errors.js';

/** 1980-01-01 00:00 (local time, as DOS timestamps are), fixed so the archive is reproducible. */
const DOS_EPOCH = new Date(1980, 0, 1);

/** Files (path → bytes, `/`-separated paths) as the bytes of a .zip archive. */
export function zipFiles(files: Record<string, Uint8Array>): Uint8Array {
  const enc = new TextEncoder();
  let size = 22;
  for (const [path, data] of Object.entries(files)) size += 76 + 2 * enc.encode(path).length + data.length;
  if (size > 0xffffffff)
    throw new FileWriteError('zipFiles: archives over 4 GiB need ZIP64, which this writer has not', { file: 'the zip archive' });
  const entries: Zippable = {};
  for (const [path, data] of Object.entries(files)) entries[path] = [data, { level: 0, mtime: DOS_EPOCH, os: 3, attrs: 0o100644 << 16 }];
  return zipSync(entries);
}
