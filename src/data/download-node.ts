/**
 * `googlenet download NAME --dir D`: fetches the official files of MNIST, Fashion-MNIST, CIFAR-10
 * or CIFAR-100 (binary version), verifies their MD5 checksums, and leaves them in the layout
 * `openDataset({ name, data: D })` reads. Each file is streamed to a temporary name in D and
 * renamed only after its checksum matched; on any failure the temporary file is deleted, so D
 * never holds a half-written or unverified file. CIFAR archives are extracted by node-tar over
 * zlib's gunzip (files and folders only, paths kept inside, sizes capped) into a temporary folder
 * first, then moved into place.
 *
 * Checksums: MNIST and Fashion-MNIST as torchvision's `datasets/mnist.py` lists them; the CIFAR
 * binary archives as the dataset page (cs.toronto.edu/~kriz/cifar.html) lists them.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, normalize, sep } from 'node:path';
import { createGunzip } from 'node:zlib';
import { Unpack, type ReadEntry } from 'tar';
import { DatasetFormatError, OptionError } from '../errors.js';
import { fetchToFile, hashFile, type FetchLike } from '../fetch-node.js';

export type DownloadName = 'mnist' | 'fashion-mnist' | 'cifar10' | 'cifar100';
export const DOWNLOAD_NAMES: readonly DownloadName[] = ['mnist', 'fashion-mnist', 'cifar10', 'cifar100'];

/** One official file. */
export interface RemoteFile {
  /** File name on the server and on disk. */
  file: string;
  /** MD5 of the file as served. */
  md5: string;
  /** For archives: the files (relative to the target folder) extraction must produce, with their sizes in bytes. */
  extracts?: { path: string; bytes: number }[];
}

/** Mirrors (tried in order) and files of each downloadable dataset. */
export const DOWNLOADS: Readonly<Record<DownloadName, { mirrors: readonly string[]; files: readonly RemoteFile[] }>> = {
  mnist: {
    mirrors: ['https://ossci-datasets.s3.amazonaws.com/mnist/', 'http://yann.lecun.com/exdb/mnist/'],
    files: [
      { file: 'train-images-idx3-ubyte.gz', md5: 'f68b3c2dcbeaaa9fbdd348bbdeb94873' },
      { file: 'train-labels-idx1-ubyte.gz', md5: 'd53e105ee54ea40749a09fcbcd1e9432' },
      { file: 't10k-images-idx3-ubyte.gz', md5: '9fb629c4189551a2d022fa330f9573f3' },
      { file: 't10k-labels-idx1-ubyte.gz', md5: 'ec29112dd5afa0611ce80d1b7f02629c' },
    ],
  },
  'fashion-mnist': {
    mirrors: ['http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/'],
    files: [
      { file: 'train-images-idx3-ubyte.gz', md5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d' },
      { file: 'train-labels-idx1-ubyte.gz', md5: '25c81989df183df01b3e8a0aad5dffbe' },
      { file: 't10k-images-idx3-ubyte.gz', md5: 'bef4ecab320f06d8554ea6380940ec79' },
      { file: 't10k-labels-idx1-ubyte.gz', md5: 'bb300cfdad3c16e7a12a480ee83cd310' },
    ],
  },
  cifar10: {
    mirrors: ['https://www.cs.toronto.edu/~kriz/'],
    files: [
      {
        file: 'cifar-10-binary.tar.gz',
        md5: 'c32a1d4ab5d03f1284b67883e8d87530',
        extracts: [
          ...[1, 2, 3, 4, 5].map((i) => ({ path: `cifar-10-batches-bin/data_batch_${i}.bin`, bytes: 10000 * 3073 })),
          { path: 'cifar-10-batches-bin/test_batch.bin', bytes: 10000 * 3073 },
        ],
      },
    ],
  },
  cifar100: {
    mirrors: ['https://www.cs.toronto.edu/~kriz/'],
    files: [
      {
        file: 'cifar-100-binary.tar.gz',
        md5: '03b5dce01913d631647c71ecec9e9cb8',
        extracts: [
          { path: 'cifar-100-binary/train.bin', bytes: 50000 * 3074 },
          { path: 'cifar-100-binary/test.bin', bytes: 10000 * 3074 },
        ],
      },
    ],
  },
};

/** Options of `download`. */
export interface DownloadOptions {
  /** Replaces the official mirrors (tests point it at a local server); default the official ones. */
  baseUrl?: string;
  /** Default `globalThis.fetch`. */
  fetchImpl?: FetchLike;
  /** File name → MD5, overriding the table (for test files; the real checksums stay in `DOWNLOADS`). */
  checksums?: Record<string, string>;
  /** For archives: the files extraction must produce; default from `DOWNLOADS` (tests pass their own). */
  extracts?: Record<string, { path: string; bytes: number }[]>;
  /** Keep the .tar.gz after extraction; default false. */
  keepArchive?: boolean;
  /** Progress lines ("downloading …", "verified …"); default none. */
  log?: (line: string) => void;
}

/** What `download` left in `dir`. */
export interface DownloadResult {
  /** Pass this as `--data`. */
  dir: string;
  /** Files now in place (relative to `dir`). */
  files: string[];
  /** Files that were already present and valid. */
  skipped: string[];
}

/** MD5 of a file, hex. */
async function md5File(path: string): Promise<string> {
  return hashFile(path, 'md5');
}

function joinUrl(base: string, file: string): string {
  return base.endsWith('/') ? base + file : `${base}/${file}`;
}

function tempName(dir: string, file: string): string {
  return join(dir, `.${file}.${process.pid}.${randomBytes(4).toString('hex')}.part`);
}

async function sizeOf(p: string): Promise<number | null> {
  try {
    return (await stat(p)).size;
  } catch {
    return null;
  }
}

/**
 * Downloads dataset `name` into `dir` (created if needed) and verifies it.
 * Files already present with the right checksum (or, for archives, the right extracted files)
 * are kept.
 * @throws OptionError for an unknown name; DatasetFormatError for network errors, HTTP errors
 *   and `checksum mismatch for FILE: expected MD5, got MD5` (the downloaded bytes are deleted).
 */
export async function download(name: string, dir: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  if (!(DOWNLOAD_NAMES as readonly string[]).includes(name)) {
    throw new OptionError(`cannot download "${name}": expected one of ${DOWNLOAD_NAMES.join(', ')} (image folders are not downloadable)`, {
      option: 'name',
    });
  }
  const spec = DOWNLOADS[name as DownloadName];
  const log = options.log ?? (() => undefined);
  const mirrors = options.baseUrl ? [options.baseUrl] : spec.mirrors;
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  const skipped: string[] = [];
  for (const remote of spec.files) {
    const md5 = options.checksums?.[remote.file] ?? remote.md5;
    const extracts = options.extracts?.[remote.file] ?? remote.extracts;
    const final = join(dir, remote.file);
    if (extracts) {
      const sizes = await Promise.all(extracts.map((e) => sizeOf(join(dir, e.path))));
      if (sizes.every((s, i) => s === extracts[i]?.bytes)) {
        skipped.push(...extracts.map((e) => e.path));
        files.push(...extracts.map((e) => e.path));
        log(`${name}: ${extracts.length} files already in ${dir}`);
        continue;
      }
    }
    let have = existsSync(final) && (await md5File(final)) === md5;
    if (have && !extracts) {
      skipped.push(remote.file);
      files.push(remote.file);
      log(`${name}: ${remote.file} already present and verified`);
      continue;
    }
    if (!have) {
      let lastError: Error | null = null;
      for (const mirror of mirrors) {
        const url = joinUrl(mirror, remote.file);
        const tmp = tempName(dir, remote.file);
        log(`downloading ${url}`);
        try {
          const got = (await fetchToFile(url, tmp, options.fetchImpl ? { fetchImpl: options.fetchImpl } : {})).digest;
          if (got !== md5) {
            await rm(tmp, { force: true });
            throw new DatasetFormatError(
              `checksum mismatch for ${remote.file}: expected ${md5}, got ${got} (from ${url}; the file was deleted)`,
            );
          }
          await rename(tmp, final);
          log(`verified ${remote.file} (md5 ${md5})`);
          have = true;
          lastError = null;
          break;
        } catch (e) {
          await rm(tmp, { force: true });
          if (e instanceof DatasetFormatError && e.message.startsWith('checksum mismatch')) throw e;
          lastError = e as Error;
        }
      }
      if (!have) throw lastError ?? new DatasetFormatError(`cannot download ${remote.file}`);
    }
    if (extracts) {
      log(`extracting ${remote.file}`);
      await extractTarGzInto(final, dir, extracts);
      if (!options.keepArchive) await rm(final, { force: true });
      files.push(...extracts.map((e) => e.path));
    } else {
      files.push(remote.file);
    }
  }
  return { dir, files, skipped };
}

/**
 * Extracts `archive` (.tar.gz) into a temporary folder inside `dir`, checks that every expected
 * file is there with its size, then moves the archive's top-level entries into `dir`.
 * @throws DatasetFormatError for a corrupt archive or a missing/short expected file; nothing is moved then.
 */
export async function extractTarGzInto(archive: string, dir: string, expect: { path: string; bytes: number }[] = []): Promise<string[]> {
  const tmp = join(dir, `.extract.${process.pid}.${randomBytes(4).toString('hex')}`);
  await mkdir(tmp, { recursive: true });
  try {
    const names = await extractTarGz(archive, tmp);
    for (const e of expect) {
      const size = await sizeOf(join(tmp, e.path));
      if (size === null) throw new DatasetFormatError(`${archive}: the archive has no ${e.path}`);
      if (size !== e.bytes) throw new DatasetFormatError(`${archive}: ${e.path} is ${size} bytes, expected ${e.bytes}`);
    }
    for (const top of await readdir(tmp)) {
      const dest = join(dir, top);
      await rm(dest, { recursive: true, force: true });
      await rename(join(tmp, top), dest);
    }
    return names;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The entry types written to disk; links, devices and FIFOs are skipped, never created. */
const EXTRACTED: ReadonlySet<string> = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory']);

/** Caps on what an archive may make {@link extractTarGz} do. */
export interface ExtractLimits {
  /**
   * Most bytes the archive may unpack to: the tar stream inside the gzip, headers included, so
   * this bounds both the work of gunzipping and the bytes written. Default 1 GiB (the CIFAR
   * binary archives hold 185 MB).
   */
  maxBytes?: number;
  /** Most entries (files, folders, skipped links…). Default 10 000 (the CIFAR-10 binary archive holds 9). */
  maxEntries?: number;
}

const EXTRACT_LIMITS: Readonly<Required<ExtractLimits>> = { maxBytes: 2 ** 30, maxEntries: 10_000 };

/** A member path made safe: relative, normalized, no `..`; null when it would leave the target folder. */
function safePath(name: string): string | null {
  const n = normalize(name.replace(/\\/g, '/')).replace(/^(\.\/)+/, '');
  if (n.startsWith('/') || n === '..' || n.startsWith('..' + sep) || n.split(/[\\/]/).includes('..')) return null;
  return n.replace(/[\\/]+$/, '');
}

/**
 * Extracts a .tar.gz into `dest` (created if needed): zlib gunzips, node-tar reads the tar
 * (ustar, GNU and pax headers) and writes the files. Only regular files and folders are
 * written: symbolic and hard links, devices and FIFOs are skipped; owners and modes in the
 * archive are ignored (files rw-r--r--, folders rwxr-xr-x). Returns the extracted file paths
 * (relative).
 * @throws DatasetFormatError for a corrupt or truncated archive, a path that would leave `dest`
 *   (absolute or with `..`), or an archive over `limits`; nothing more is read after the first
 *   refused entry, and the files begun before it are complete when this throws.
 */
export async function extractTarGz(archive: string, dest: string, limits: ExtractLimits = {}): Promise<string[]> {
  const max = { ...EXTRACT_LIMITS, ...limits };
  await mkdir(dest, { recursive: true });
  const out: string[] = [];
  let failure: DatasetFormatError | null = null;
  let bytes = 0;
  let entries = 0;
  const fail = (e: DatasetFormatError): false => {
    failure ??= e;
    return false;
  };
  const refuse = (msg: string): false => fail(new DatasetFormatError(`${archive}: ${msg}`, { file: archive }));
  const unpack = new Unpack({
    cwd: dest,
    preserveOwner: false,
    // Not strict, so that a link header without a target is only skipped (links are never
    // extracted); every other warning (a bad checksum, a file that cannot be written) fails.
    onwarn: (code, message) => {
      if (code === 'TAR_ENTRY_INVALID' && message === 'linkpath required') return;
      refuse(code === 'TAR_ENTRY_INVALID' ? `corrupt tar header (${message})` : `cannot extract (${message})`);
    },
    filter: (path, entry) => {
      const e = entry as ReadEntry;
      if (failure) return false;
      if (++entries > max.maxEntries) return refuse(`the archive holds more than ${max.maxEntries} entries (limit maxEntries)`);
      bytes += e.size;
      if (bytes > max.maxBytes)
        return refuse(`the archive unpacks to more than ${max.maxBytes} bytes (at ${JSON.stringify(path)}; limit maxBytes)`);
      if (!EXTRACTED.has(e.type)) return false;
      const rel = safePath(path);
      if (rel === null) return refuse(`refusing to extract ${JSON.stringify(path)}: the path leaves the target folder`);
      e.mode = e.type === 'Directory' ? 0o755 : 0o644;
      if (e.type !== 'Directory') out.push(rel);
      return true;
    },
  });
  await feed(archive, unpack, max.maxBytes, fail, () => failure !== null);
  if (failure) throw failure;
  return out;
}

/**
 * Gunzips `archive` into `unpack` and waits until node-tar has closed, every file it began
 * written, so the caller may delete the folder without racing a write. Input stops at the
 * first failure (`failed()`: a refused entry; a gzip or read error; more than `maxBytes` of
 * tar) and the tar is ended where it stands.
 */
async function feed(
  archive: string,
  unpack: Unpack,
  maxBytes: number,
  fail: (e: DatasetFormatError) => false,
  failed: () => boolean,
): Promise<void> {
  const source = createReadStream(archive);
  const gunzip = createGunzip();
  let tarBytes = 0;
  await new Promise<void>((resolve) => {
    let ended = false;
    let timer: NodeJS.Timeout | undefined;
    const end = (): void => {
      if (ended) return;
      ended = true;
      source.destroy();
      gunzip.destroy();
      unpack.end();
      timer = setTimeout(resolve, 10_000); // node-tar closes after a truncated end; never wait forever
    };
    const error = (e: Error): void => {
      fail(archiveError(archive, e));
      end();
    };
    source.on('error', error);
    gunzip.on('error', error);
    unpack.on('error', error);
    gunzip.on('data', (chunk: Buffer) => {
      if (ended) return;
      if (!unpack.write(chunk)) gunzip.pause(); // a member over the limit is refused by name, in the filter
      tarBytes += chunk.length; // (zlib's chunks are 16 KiB: the overshoot is small)
      if (tarBytes > maxBytes)
        fail(new DatasetFormatError(`${archive}: the archive unpacks to more than ${maxBytes} bytes (limit maxBytes)`, { file: archive }));
      if (failed()) end();
    });
    unpack.on('drain', () => gunzip.resume());
    gunzip.on('end', () => {
      if (ended) return;
      ended = true;
      unpack.end();
    });
    unpack.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    source.pipe(gunzip);
  });
}

/** zlib's, node-tar's and the file system's errors as one-line DatasetFormatErrors. */
function archiveError(archive: string, e: Error): DatasetFormatError {
  const msg = (e.message.split('\n')[0] ?? '').replace(/^(zlib|TAR_[A-Z_]+): /, '');
  const what = /unexpected end/i.test(msg) ? 'truncated gzip stream' : /truncated/i.test(msg) ? 'truncated archive' : 'corrupt archive';
  return new DatasetFormatError(`${archive}: ${what} (${msg})`, { file: archive, cause: e });
}
