/**
 * `googlenet download NAME --dir D`: fetches the official files of MNIST, Fashion-MNIST, CIFAR-10
 * or CIFAR-100 (binary version), verifies their MD5 checksums, and leaves them in the layout
 * `openDataset({ name, data: D })` reads. Each file is streamed to a temporary name in D and
 * renamed only after its checksum matched; on any failure the temporary file is deleted, so D
 * never holds a half-written or unverified file. CIFAR archives are extracted by a small tar
 * reader over zlib's gunzip into a temporary folder first, then moved into place.
 *
 * Checksums: MNIST and Fashion-MNIST as torchvision's `datasets/mnist.py` lists them; the CIFAR
 * binary archives as the dataset page (cs.toronto.edu/~kriz/cifar.html) lists them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import { createGunzip } from 'node:zlib';
import { DatasetFormatError, OptionError } from '../errors.js';

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

/** The subset of `fetch` that `download` uses. */
export type FetchLike = (url: string) => Promise<Response>;

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
export async function md5File(path: string): Promise<string> {
  const h = createHash('md5');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function joinUrl(base: string, file: string): string {
  return base.endsWith('/') ? base + file : `${base}/${file}`;
}

function tempName(dir: string, file: string): string {
  return join(dir, `.${file}.${process.pid}.${randomBytes(4).toString('hex')}.part`);
}

/** Streams `url` to `dest` through an MD5; returns the digest. Deletes `dest` on failure. */
async function fetchToFile(url: string, dest: string, fetchImpl: FetchLike): Promise<string> {
  let res: Response;
  try {
    res = await fetchImpl(url);
  } catch (e) {
    const cause = (e as Error & { cause?: Error }).cause;
    throw new DatasetFormatError(`cannot download ${url}: ${cause?.message ?? (e as Error).message} (offline?)`);
  }
  if (!res.ok || !res.body) throw new DatasetFormatError(`cannot download ${url}: HTTP ${res.status} ${res.statusText}`.trimEnd());
  const hash = createHash('md5');
  const fh = await open(dest, 'w');
  try {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
      await fh.write(value);
    }
    await fh.close();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(dest, { force: true });
    throw new DatasetFormatError(`download of ${url} was interrupted: ${(e as Error).message}`);
  }
  return hash.digest('hex');
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
    throw new OptionError(`cannot download "${name}": expected one of ${DOWNLOAD_NAMES.join(', ')} (image folders are not downloadable)`);
  }
  const spec = DOWNLOADS[name as DownloadName];
  const fetchImpl = options.fetchImpl ?? ((url: string) => fetch(url));
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
          const got = await fetchToFile(url, tmp, fetchImpl);
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

function cstr(b: Uint8Array, start: number, len: number): string {
  let end = start;
  while (end < start + len && b[end] !== 0) end++;
  return Buffer.from(b.subarray(start, end)).toString('utf8');
}

function octal(b: Uint8Array, start: number, len: number): number {
  if (((b[start] as number) & 0x80) !== 0) {
    // GNU base-256 for large sizes
    let v = (b[start] as number) & 0x7f;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + (b[i] as number);
    return v;
  }
  const s = cstr(b, start, len).trim();
  return s === '' ? 0 : parseInt(s, 8);
}

/** A member path made safe: relative, normalized, no `..`. */
function safePath(name: string, archive: string): string {
  const n = normalize(name.replace(/\\/g, '/')).replace(/^(\.\/)+/, '');
  if (n.startsWith('/') || n === '..' || n.startsWith('..' + sep) || n.split(/[\\/]/).includes('..')) {
    throw new DatasetFormatError(`${archive}: refusing to extract "${name}": the path leaves the target folder`);
  }
  return n.replace(/[\\/]+$/, '');
}

/**
 * Extracts a .tar.gz (ustar, GNU long names, pax paths; regular files and folders — links and
 * devices are skipped) into `dest`, streaming. Returns the extracted file paths (relative).
 * @throws DatasetFormatError for a bad header checksum, a truncated archive or an unsafe path.
 */
export async function extractTarGz(archive: string, dest: string): Promise<string[]> {
  const source = createReadStream(archive);
  const gunzip = createGunzip();
  source.on('error', (e) => gunzip.destroy(e));
  source.pipe(gunzip);

  const out: string[] = [];
  let header: Uint8Array = new Uint8Array(0);
  let offset = 0; // bytes of tar consumed
  let remaining = 0; // data bytes left in the current member
  let padding = 0; // zero bytes after it
  // Mutated by the helpers below: the open output file, or the collected long-name / pax data.
  const st: { sink: FileHandle | null; collect: Uint8Array[] | null; collectKind: 'L' | 'x' | null; longName: string | null } = {
    sink: null,
    collect: null,
    collectKind: null,
    longName: null,
  };
  let current = '';
  let ended = false;

  const startMember = async (h: Uint8Array): Promise<void> => {
    const stored = octal(h, 148, 8);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (h[i] as number);
    if (sum !== stored)
      throw new DatasetFormatError(`${archive}: corrupt tar header at offset ${offset - 512} (checksum ${sum}, header says ${stored})`);
    const type = String.fromCharCode(h[156] as number);
    const size = octal(h, 124, 12);
    let name = cstr(h, 0, 100);
    if (cstr(h, 257, 5) === 'ustar') {
      const prefix = cstr(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (st.longName !== null) {
      name = st.longName;
      st.longName = null;
    }
    remaining = size;
    padding = (512 - (size % 512)) % 512;
    current = name;
    if (type === 'L' || type === 'x') {
      st.collect = [];
      st.collectKind = type;
      if (remaining === 0) await endMember();
      return;
    }
    if (type === '0' || type === '\0' || type === '7') {
      const rel = safePath(name, archive);
      const p = join(dest, rel);
      await mkdir(dirname(p), { recursive: true });
      st.sink = await open(p, 'w');
      out.push(rel);
      if (remaining === 0) {
        await st.sink.close();
        st.sink = null;
      }
    } else if (type === '5') {
      await mkdir(join(dest, safePath(name, archive)), { recursive: true });
    }
    // other types (links, devices, global pax headers): data skipped
  };

  const endMember = async (): Promise<void> => {
    if (st.sink) {
      await st.sink.close();
      st.sink = null;
    }
    if (st.collect) {
      const text = Buffer.concat(st.collect).toString('utf8');
      if (st.collectKind === 'L') st.longName = text.replace(/\0+$/, '');
      else {
        for (const m of text.matchAll(/(\d+) path=([^\n]*)\n/g)) st.longName = m[2] ?? null;
      }
      st.collect = null;
      st.collectKind = null;
    }
  };

  try {
    for await (const chunk of gunzip) {
      let buf = chunk as Buffer;
      while (buf.length > 0 && !ended) {
        if (remaining > 0) {
          const take = Math.min(remaining, buf.length);
          const part = buf.subarray(0, take);
          if (st.sink) await st.sink.write(part);
          else if (st.collect) st.collect.push(Buffer.from(part));
          remaining -= take;
          offset += take;
          buf = buf.subarray(take);
          if (remaining === 0) await endMember();
          continue;
        }
        if (padding > 0) {
          const take = Math.min(padding, buf.length);
          padding -= take;
          offset += take;
          buf = buf.subarray(take);
          continue;
        }
        const need = 512 - header.length;
        const take = Math.min(need, buf.length);
        header = Buffer.concat([header, buf.subarray(0, take)]);
        offset += take;
        buf = buf.subarray(take);
        if (header.length < 512) continue;
        const h = header;
        header = new Uint8Array(0);
        if (h.every((v) => v === 0)) {
          ended = true;
          break;
        }
        await startMember(h);
      }
    }
    if (!ended && (remaining > 0 || header.length > 0)) {
      throw new DatasetFormatError(
        `${archive}: truncated archive: ${current ? `member ${current} is missing ${remaining} bytes` : 'incomplete header'} at offset ${offset}`,
      );
    }
  } catch (e) {
    if (st.sink) await st.sink.close().catch(() => undefined);
    source.destroy();
    if (e instanceof DatasetFormatError) throw e;
    const msg = (e as Error).message;
    throw new DatasetFormatError(`${archive}: ${/unexpected end/i.test(msg) ? 'truncated gzip stream' : 'corrupt archive'} (${msg})`);
  }
  return out;
}
