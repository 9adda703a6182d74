/**
 * Writing files so that nothing is ever half-written: every file the library writes (model
 * directories, checkpoints, metrics, plots, exports) goes through {@link writeFileAtomic}. And
 * reading the files a user names without blocking or reading forever: {@link readRegularFile}.
 */
import * as fs from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { FileWriteError, InternalError, type ErrorContext, type GoogLeNetError } from './errors.js';
import { getLimits, raiseHint, type Limits } from './limits.js';

/** The file-system calls of a write; tests replace them to make a write fail midway. */
export interface FileIo {
  openSync: typeof fs.openSync;
  writeSync: (fd: number, buffer: Uint8Array, offset: number, length: number) => number;
  fsyncSync: typeof fs.fsyncSync;
  closeSync: typeof fs.closeSync;
  renameSync: typeof fs.renameSync;
  rmSync: typeof fs.rmSync;
}

const NODE_IO: FileIo = {
  openSync: fs.openSync,
  writeSync: (fd, b, o, l) => fs.writeSync(fd, b, o, l),
  fsyncSync: fs.fsyncSync,
  closeSync: fs.closeSync,
  renameSync: fs.renameSync,
  rmSync: fs.rmSync,
};

export interface WriteOptions {
  /** Names the file in the error ("checkpoint", "model weights"). Default "file". */
  what?: string;
  io?: FileIo;
  /** The error class thrown. Default FileWriteError. */
  error?: new (message: string) => Error;
}

/**
 * Writes `bytes` to `path` atomically: a same-folder temporary file, fsync, rename, folder fsync.
 * On failure the temporary file is removed and `path` keeps its previous content (or stays absent).
 * @throws FileWriteError (or `o.error`) naming the file and the cause.
 */
export function writeFileAtomic(path: string, bytes: Uint8Array, o: WriteOptions = {}): void {
  const io = o.io ?? NODE_IO;
  const what = o.what ?? 'file';
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  let fd: number | undefined;
  // Where the test hook below pauses (never, unless a test asks for this file).
  const pauseAt = process.env.GOOGLENET_TEST_PAUSE_IN_WRITE === basename(path) ? bytes.length >> 1 : -1;
  try {
    fd = io.openSync(tmp, 'w');
    for (let at = 0; at < bytes.length;) {
      if (at === pauseAt) pauseInWriteForTests(tmp);
      const n = io.writeSync(fd, bytes, at, (at < pauseAt ? pauseAt : bytes.length) - at);
      if (!(n > 0)) throw new InternalError(`write returned ${n}`);
      at += n;
    }
    io.fsyncSync(fd);
    io.closeSync(fd);
    fd = undefined;
    io.renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try {
        io.closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    try {
      io.rmSync(tmp, { force: true });
    } catch {
      /* nothing to remove */
    }
    const err = e as NodeJS.ErrnoException;
    const msg = err.message.split('\n')[0]!;
    const cause = err.code && !msg.startsWith(err.code) ? `${err.code}: ${msg}` : msg;
    const kept = fs.existsSync(path) ? `the previous ${what} is unchanged` : 'nothing was written';
    throw new (o.error ?? FileWriteError)(`${path}: cannot write ${what} (${cause}); ${kept}`);
  }
  try {
    const d = fs.openSync(dirname(path), 'r');
    try {
      fs.fsyncSync(d);
    } finally {
      fs.closeSync(d);
    }
  } catch {
    /* best effort: not every platform can fsync a folder */
  }
}

/**
 * Test hook, for the crash-consistency test only: with `GOOGLENET_TEST_PAUSE_IN_WRITE=<file
 * name>` in the environment, a write of a file of that name stops with its temporary file half
 * written, says so on stderr and blocks for up to a minute, so that a test can `kill -9` the
 * process inside the atomic write, deterministically.
 */
function pauseInWriteForTests(tmp: string): void {
  process.stderr.write(`GOOGLENET_TEST_PAUSE_IN_WRITE: paused half-way through ${tmp}\n`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
}

/**
 * Creates folder `dir` and its missing parents, one level at a time, or throws FileWriteError
 * naming it. Not `mkdirSync(dir, { recursive: true })`: under a folder where mkdir always fails
 * with ENOENT (`/proc/x`), Node 20's recursive mkdir retries forever (~200k syscalls in 20 s).
 */
export function makeDir(dir: string, what = 'folder'): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !fs.existsSync(d); d = dirname(d)) {
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EEXIST' && fs.statSync(d).isDirectory()) continue;
      throw new FileWriteError(`${dir}: cannot create the ${what} (${err.code ?? err.message} at ${d})`, { file: dir, cause: e });
    }
  }
  if (!fs.statSync(dir).isDirectory()) throw new FileWriteError(`${dir}: exists and is not a folder`, { file: dir });
}

/** The temporary-file names {@link writeFileAtomic} uses: `.<name>.<pid>.<time>.tmp`. */
const TEMP_NAME = /^\..+\.\d+\.[0-9a-z]+\.tmp$/;

/**
 * Removes the temporary files that interrupted atomic writes (a `kill -9`, a power cut) left in
 * `dir`; returns their paths. Call it only on a folder this process owns (a resumed run).
 */
export function removeOrphanedTemps(dir: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!TEMP_NAME.test(name)) continue;
    const p = join(dir, name);
    try {
      if (fs.statSync(p).isFile()) {
        fs.rmSync(p);
        removed.push(p);
      }
    } catch {
      /* gone already, or not ours to remove */
    }
  }
  return removed;
}

/** How {@link readRegularFile} reads and fails. */
export interface ReadOptions {
  /** What the file is, for messages ("weight file", "checkpoint"). */
  what: string;
  /** The error class thrown, naming the file. */
  error: new (message: string, context: ErrorContext & { file: string }) => GoogLeNetError;
  /** The limit the file's size must keep (none: any size Node reads). */
  limit?: keyof Limits;
  /** The message for a missing file. Default "no such file". */
  missing?: string;
}

/**
 * Reads a whole file that must be a regular one: a FIFO (which would block forever), a device
 * (`/dev/zero` never ends) or a folder is refused at once, and so is a file over `o.limit`,
 * before anything is read. Every failure is `o.error` with a message naming `path`.
 */
export function readRegularFile(path: string, o: ReadOptions): Buffer {
  const fail = (why: string): never => {
    throw new o.error(`${path}: ${why}`, { file: path });
  };
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever before fstat can refuse it.
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return fail(o.missing ?? 'no such file');
    if (code === 'EACCES' || code === 'EPERM') return fail('permission denied');
    return fail(`cannot read the ${o.what} (${(e as Error).message})`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) fail(`is a directory, expected a ${o.what}`);
    if (!st.isFile()) fail(`not a regular file (a device, FIFO or socket), expected a ${o.what}`);
    if (o.limit && st.size > getLimits()[o.limit]) fail(`${st.size.toLocaleString('en-US')} bytes is more than ${raiseHint(o.limit)}`);
    try {
      return fs.readFileSync(fd);
    } catch (e) {
      return fail(`cannot read the ${o.what} (${(e as Error).message})`);
    }
  } finally {
    fs.closeSync(fd);
  }
}
