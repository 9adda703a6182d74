/**
 * The one HTTP downloader: streams a URL into a partial file through a hash, so that the caller
 * can verify the bytes before it renames them into place. Used by `googlenet download` (dataset
 * files, MD5) and by the weights registry (weight files, SHA-256). `fetchBytes` is its small
 * sibling for pictures behind http(s) URLs (queue workers): into memory, bounded in size and time.
 *
 * A network failure in the middle of the body keeps the partial file when `resume` is on, and the
 * next attempt (in this call, up to `retries` times, or in a later run) asks only for the missing
 * bytes with an HTTP `Range` request; a server that ignores Range answers 200 and the file starts
 * over. A write failure (a full disk) deletes the partial file and throws FileWriteError: nothing
 * half-written is left.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { DatasetFormatError, FileWriteError, type ErrorContext, type GoogLeNetError } from './errors.js';
import { readCapped } from './stream.js';

/** The subset of `fetch` the downloaders use. */
export type FetchLike = (url: string, init?: { headers?: Record<string, string>; signal?: AbortSignal }) => Promise<Response>;

/** Options of {@link fetchToFile}. */
export interface FetchFileOptions {
  /** Default `globalThis.fetch`. */
  fetchImpl?: FetchLike;
  /** The digest returned. Default `'md5'`. */
  algorithm?: 'md5' | 'sha256';
  /** Called after each chunk with the bytes of the file so far and the full size when the server said it. */
  onProgress?: (received: number, total: number | null) => void;
  /** Keep a partial file after a network failure and continue it with a Range request. Default false. */
  resume?: boolean;
  /** With `resume`: further attempts after a network failure in this call. Default 0. */
  retries?: number;
  /** The error class thrown. Default DatasetFormatError. */
  error?: new (message: string, context: ErrorContext & { file: string }) => GoogLeNetError;
}

/** What {@link fetchToFile} wrote. */
export interface FetchFileResult {
  /** Hex digest of the whole file (the resumed bytes included). */
  digest: string;
  /** Size of the file. */
  bytes: number;
  /** Bytes that were already there from an earlier attempt and were kept. */
  resumedFrom: number;
}

/** Hex digest of a file. */
export async function hashFile(path: string, algorithm: 'md5' | 'sha256'): Promise<string> {
  const h = createHash(algorithm);
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function sizeOf(p: string): Promise<number> {
  try {
    return (await stat(p)).size;
  } catch {
    return 0;
  }
}

/** A failure of the connection (worth a retry), as opposed to a failure of our disk or an HTTP error. */
class NetworkFailure {
  constructor(readonly message: string) {}
}

function networkMessage(e: unknown): string {
  const err = e as Error & { cause?: Error };
  return err.cause?.message ?? err.message;
}

/**
 * Streams `url` into `part` and returns the digest of the whole file. `part` is the caller's
 * temporary name: the caller verifies the digest and renames. On an HTTP error, a disk error, or
 * a network error without `resume`, `part` is deleted before this throws.
 * @throws `o.error` (DatasetFormatError by default): "cannot download URL: HTTP 404 Not Found",
 *   "… (offline?)", "download of URL was interrupted: …"; FileWriteError "cannot write FILE: …".
 */
export async function fetchToFile(url: string, part: string, o: FetchFileOptions = {}): Promise<FetchFileResult> {
  const Err = o.error ?? DatasetFormatError;
  const retries = o.resume ? (o.retries ?? 0) : 0;
  for (let attempt = 0; ; attempt++) {
    try {
      return await attemptFetch(url, part, o);
    } catch (e) {
      if (!(e instanceof NetworkFailure)) {
        await rm(part, { force: true });
        throw e;
      }
      if (!o.resume) await rm(part, { force: true });
      if (attempt >= retries) {
        const kept =
          o.resume && (await sizeOf(part)) > 0 ? `; the ${await sizeOf(part)} bytes received are kept and resumed next time` : '';
        throw new Err(`${e.message}${kept}`, { file: part });
      }
    }
  }
}

/** One request: continues `part` when resuming, else starts it over. */
async function attemptFetch(url: string, part: string, o: FetchFileOptions): Promise<FetchFileResult> {
  const Err = o.error ?? DatasetFormatError;
  const fetchImpl = o.fetchImpl ?? ((u: string, init?: Parameters<FetchLike>[1]) => fetch(u, init));
  const have = o.resume ? await sizeOf(part) : 0;
  let res: Response;
  try {
    res = await fetchImpl(url, have > 0 ? { headers: { Range: `bytes=${have}-` } } : {});
  } catch (e) {
    throw new NetworkFailure(`cannot download ${url}: ${networkMessage(e)} (offline?)`);
  }
  if (res.status === 416 && have > 0) {
    // The partial file is not a prefix the server recognises: start over.
    await rm(part, { force: true });
    return attemptFetch(url, part, o);
  }
  if (!res.ok || !res.body) throw new Err(`cannot download ${url}: HTTP ${res.status} ${res.statusText}`.trimEnd(), { file: url });
  const resumed = res.status === 206 && have > 0 && contentRangeStart(res) === have;
  const start = resumed ? have : 0;
  const length = Number(res.headers.get('content-length'));
  const total = Number.isFinite(length) && res.headers.has('content-length') ? start + length : null;
  const hash = createHash(o.algorithm ?? 'md5');
  if (resumed) for await (const chunk of createReadStream(part)) hash.update(chunk as Buffer);
  const fh = await open(part, resumed ? 'a' : 'w');
  try {
    const received = await copyBody(res.body, hash, start, total, (b) => fh.write(b), url, part, o.onProgress);
    return { digest: hash.digest('hex'), bytes: received, resumedFrom: start };
  } finally {
    await fh.close().catch(() => undefined);
  }
}

function contentRangeStart(res: Response): number | null {
  const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
  return m ? Number(m[1]) : null;
}

/** Reads the body into the file and the hash; a read failure is a NetworkFailure, a write failure a FileWriteError. */
async function copyBody(
  body: ReadableStream<Uint8Array>,
  hash: Hash,
  start: number,
  total: number | null,
  write: (b: Uint8Array) => Promise<unknown>,
  url: string,
  part: string,
  onProgress?: (received: number, total: number | null) => void,
): Promise<number> {
  const reader = body.getReader();
  let received = start;
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (e) {
      throw new NetworkFailure(`download of ${url} was interrupted after ${received} bytes: ${networkMessage(e)}`);
    }
    if (chunk.done) break;
    try {
      await write(chunk.value);
    } catch (e) {
      await reader.cancel().catch(() => undefined);
      const err = e as NodeJS.ErrnoException;
      const why = err.message.split('\n')[0] ?? '';
      throw new FileWriteError(`cannot write ${part}: ${why}; the partial file was deleted`, { file: part });
    }
    hash.update(chunk.value);
    received += chunk.value.length;
    onProgress?.(received, total);
  }
  if (total !== null && received < total) {
    throw new NetworkFailure(`download of ${url} was interrupted after ${received} of ${total} bytes`);
  }
  return received;
}

/** Options of {@link fetchBytes}. */
export interface FetchBytesOptions {
  /** The largest body taken, in bytes: a larger Content-Length is refused before the body is read, a longer body as soon as it passes the mark. */
  maxBytes: number;
  /** How the refusal names the limit, after "N bytes is larger than …". Default "<maxBytes> bytes". */
  limitText?: string;
  /** Time for the whole request, headers and body, in ms. Default 30000. */
  timeoutMs?: number;
  /** Default `globalThis.fetch`. */
  fetchImpl?: FetchLike;
  /** The error class thrown. Default DatasetFormatError. */
  error?: new (message: string, context: ErrorContext & { file: string }) => GoogLeNetError;
}

/**
 * Downloads `url` into memory, at most `maxBytes` and within `timeoutMs`; no retries.
 * @throws `o.error` (DatasetFormatError by default), its message starting with the URL:
 *   "URL: cannot download (HTTP 404 Not Found)", "… (connect ECONNREFUSED …)",
 *   "URL: no complete answer within 30000 ms", "URL: 9,000,000 bytes is larger than …".
 */
export async function fetchBytes(url: string, o: FetchBytesOptions): Promise<Uint8Array> {
  const Err = o.error ?? DatasetFormatError;
  const timeoutMs = o.timeoutMs ?? 30_000;
  const fetchImpl = o.fetchImpl ?? ((u: string, init?: Parameters<FetchLike>[1]) => fetch(u, init));
  const fail = (why: string) => new Err(`${url}: ${why}`, { file: url });
  const tooLarge = (n: number) => fail(`${n.toLocaleString('en-US')} bytes is larger than ${o.limitText ?? `${o.maxBytes} bytes`}`);
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  const failure = (e: unknown) =>
    ctrl.signal.aborted ? fail(`no complete answer within ${timeoutMs} ms`) : fail(`cannot download (${networkMessage(e)})`);
  try {
    let res: Response;
    try {
      res = await fetchImpl(url, { signal: ctrl.signal });
    } catch (e) {
      throw failure(e);
    }
    const body = res.body;
    const declared = Number(res.headers.get('content-length'));
    if (!res.ok || !body || (res.headers.has('content-length') && declared > o.maxBytes)) {
      await body?.cancel().catch(() => undefined);
      throw !res.ok || !body ? fail(`cannot download (HTTP ${res.status} ${res.statusText})`.replace(' )', ')')) : tooLarge(declared);
    }
    return await readCapped(body, { maxBytes: o.maxBytes, tooLarge, readFailed: failure });
  } finally {
    clearTimeout(timer);
  }
}
