import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DatasetFormatError, ModelLoadError } from './errors.js';
import { readCapped } from './stream.js';

/** A stream of `chunks` (then, if `stall`, nothing more), recording whether it was cancelled. */
function source(chunks: number[], stall = false): { stream: ReadableStream<Uint8Array>; cancelled: () => boolean } {
  let cancelled = false;
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < chunks.length) c.enqueue(new Uint8Array(chunks[i]!).fill(i++ + 1));
      else if (!stall) c.close();
      // A stalled source never answers its next pull.
      return i >= chunks.length && stall ? new Promise<void>(() => undefined) : undefined;
    },
    cancel() {
      cancelled = true;
    },
  });
  return { stream, cancelled: () => cancelled };
}
const tooLarge = (n: number) => new DatasetFormatError(`${n} bytes is too many`, { file: 'x' });

test('reads every chunk in order into one array, reporting the running total', async () => {
  const totals: number[] = [];
  const out = await readCapped(source([3, 2, 4]).stream, { maxBytes: 9, tooLarge, onChunk: (_, t) => totals.push(t) });
  assert.deepEqual([...out], [1, 1, 1, 2, 2, 3, 3, 3, 3]);
  assert.deepEqual(totals, [3, 5, 9]);
});

test('the chunk that passes the cap stops the read with tooLarge(total) and cancels the stream', async () => {
  const s = source([4, 4, 4, 4]);
  await assert.rejects(readCapped(s.stream, { maxBytes: 10, tooLarge }), /^DatasetFormatError: 12 bytes is too many$/);
  assert.ok(s.cancelled());
});

test('a stalled stream ends with idle.error(); what onChunk throws ends the read; both cancel it', async () => {
  const stalled = source([2], true);
  const idle = { ms: 30, error: () => new ModelLoadError('no data for 0.03 s') };
  await assert.rejects(readCapped(stalled.stream, { maxBytes: 100, tooLarge, idle }), /no data for 0\.03 s/);
  assert.ok(stalled.cancelled());
  const checked = source([2, 2, 2, 2]);
  const guard = (_: Uint8Array, total: number) => {
    if (total > 3) throw new DatasetFormatError('inflates past its header', { file: 'x' });
  };
  await assert.rejects(readCapped(checked.stream, { maxBytes: 100, tooLarge, onChunk: guard }), /inflates past its header/);
  assert.ok(checked.cancelled());
});

test('a failed read becomes readFailed(cause)', async () => {
  const broken = new ReadableStream<Uint8Array>({
    pull(c) {
      c.error(new Error('socket hang up'));
    },
  });
  await assert.rejects(
    readCapped(broken, { maxBytes: 10, tooLarge, readFailed: (e) => new ModelLoadError(`download failed (${(e as Error).message})`) }),
    (e: unknown) => e instanceof ModelLoadError && e.message === 'download failed (socket hang up)',
  );
});
