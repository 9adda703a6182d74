/**
 * A stream read into one byte array, with a size cap: the one loop behind every download into
 * memory (`fetch-node.ts`: pictures behind URLs; `web/model-dir.ts` and `web/weights.ts`: weight
 * files; `web/data.ts`: dataset files and their gunzipped bytes). It stops at the first chunk past
 * the cap, cancels the stream on any failure, and can give up on a stream that stalls.
 * Platform-free (web streams, which Node has too).
 */
import type { GoogLeNetError } from './errors.js';

/** Options of {@link readCapped}. */
export interface ReadCappedOptions {
  /** The most bytes taken: the chunk that passes it stops the read with `tooLarge(total)`. */
  maxBytes: number;
  tooLarge: (total: number) => GoogLeNetError;
  /** The error for a read that fails (the network, an abort). Default: the failure itself. */
  readFailed?: (cause: unknown) => GoogLeNetError;
  /** Called with each chunk and the total so far, before it is kept: progress, or a check that throws. */
  onChunk?: (chunk: Uint8Array, total: number) => void;
  /** Give up when no chunk arrives for `ms` milliseconds, with `error()`. Default: wait. */
  idle?: { ms: number; error: () => GoogLeNetError };
}

/** The next chunk, within the idle time. */
async function nextChunk(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  o: ReadCappedOptions,
): Promise<ReadableStreamReadResult<Uint8Array>> {
  const read = reader.read().catch((e: unknown) => {
    throw o.readFailed ? o.readFailed(e) : e;
  });
  if (!o.idle) return read;
  const { ms, error } = o.idle;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms);
  });
  try {
    return await Promise.race([read, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reads `stream` to its end into one array of at most `o.maxBytes` bytes.
 * @throws `o.tooLarge(total)` past the cap, `o.readFailed(cause)` when a read fails, `o.idle.error()`
 *   when the stream stalls, or what `o.onChunk` throws; the stream is cancelled in each case.
 */
export async function readCapped(stream: ReadableStream<Uint8Array>, o: ReadCappedOptions): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const r = await nextChunk(reader, o);
      if (r.done) break;
      total += r.value.length;
      if (total > o.maxBytes) throw o.tooLarge(total);
      o.onChunk?.(r.value, total);
      chunks.push(r.value);
    }
  } catch (e) {
    await reader.cancel().catch(() => undefined);
    throw e;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
