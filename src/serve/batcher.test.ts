import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClosedError, OptionError, OverloadedError, TimeoutError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { Batcher } from './batcher.js';

/** A model stand-in: N×2 in → N×1 out (the sum of each row), recording each call's rows. */
function fakeModel(delayMs = 0): { run: (x: Tensor) => Promise<Tensor>; calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    run: async (x) => {
      calls.push(x.dims[0]!);
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      const n = x.dims[0]!;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = x.data[2 * i]! + x.data[2 * i + 1]!;
      return { dims: [n, 1], data: out };
    },
  };
}

const row = (a: number, n = 1): Tensor => ({ dims: [n, 2], data: Float32Array.from({ length: 2 * n }, (_, i) => a + i) });

test('requests within the delay run as one batch, each gets its own rows back', async () => {
  const m = fakeModel();
  const b = new Batcher(m.run, { maxBatch: 16, maxDelayMs: 20 });
  const ys = await Promise.all([row(1), row(10, 2), row(100)].map((x) => b.submit(x)));
  assert.deepEqual(m.calls, [4]);
  assert.deepEqual(Array.from(ys[0]!.data), [3]);
  assert.deepEqual(ys[1]!.dims, [2, 1]);
  assert.deepEqual(Array.from(ys[1]!.data), [21, 25]);
  assert.deepEqual(Array.from(ys[2]!.data), [201]);
});

test('batches never exceed maxBatch, and what queues during a run goes next', async () => {
  const m = fakeModel(5);
  const b = new Batcher(m.run, { maxBatch: 4, maxDelayMs: 1, maxQueue: 100 });
  const ys = await Promise.all(Array.from({ length: 19 }, (_, i) => b.submit(row(i))));
  assert.ok(
    m.calls.every((n) => n <= 4),
    `calls ${m.calls.join(',')}`,
  );
  assert.equal(
    m.calls.reduce((a, n) => a + n, 0),
    19,
  );
  ys.forEach((y, i) => assert.equal(y.data[0], 2 * i + 1));
});

test('a full queue refuses with OverloadedError, a long wait ends in TimeoutError, both without running', async () => {
  const m = fakeModel(60);
  const b = new Batcher(m.run, { maxBatch: 1, maxDelayMs: 0, maxQueue: 2, timeoutMs: 30 });
  const first = b.submit(row(0)); // runs at once, 60 ms
  const waiting = [b.submit(row(1)), b.submit(row(2))].map((p) => p.catch((e: unknown) => e));
  await assert.rejects(b.submit(row(3)), OverloadedError);
  await first;
  for (const e of await Promise.all(waiting)) assert.ok(e instanceof TimeoutError, String(e));
  assert.deepEqual(m.calls, [1]);
  assert.equal(b.depth, 0);
});

test('close() finishes queued work and refuses new; bad batch sizes and options are OptionErrors', async () => {
  const m = fakeModel(5);
  const b = new Batcher(m.run, { maxBatch: 2, maxDelayMs: 1000 });
  const ps = [b.submit(row(1)), b.submit(row(2, 2))];
  await b.close();
  assert.deepEqual(
    (await Promise.all(ps)).map((y) => y.dims[0]),
    [1, 2],
  );
  await assert.rejects(b.submit(row(0)), ClosedError);
  const c = new Batcher(m.run, { maxBatch: 2 });
  await assert.rejects(c.submit(row(0, 3)), /a batch of 3 rows: expected 1 to 2/);
  assert.throws(() => new Batcher(m.run, { maxBatch: 0 }), OptionError);
  assert.throws(() => new Batcher(m.run, { maxDelayMs: 1.5 }), OptionError);
});

test('a failing model call rejects its batch only; the next batch runs', async () => {
  let fail = true;
  const b = new Batcher(
    async (x) => {
      if (fail) {
        fail = false;
        throw new OptionError('boom', { option: 'x' });
      }
      return { dims: [x.dims[0]!, 1], data: new Float32Array(x.dims[0]!) };
    },
    { maxBatch: 8, maxDelayMs: 0 },
  );
  await assert.rejects(b.submit(row(0)), /boom/);
  assert.deepEqual((await b.submit(row(0))).dims, [1, 1]);
});

test('an aborted request leaves the queue unrun; one already running completes', async () => {
  const m = fakeModel(30);
  const b = new Batcher(m.run, { maxBatch: 1, maxDelayMs: 0 });
  const running = new AbortController();
  const queued = new AbortController();
  const first = b.submit(row(1), running.signal);
  const second = b.submit(row(2), queued.signal).catch((e: unknown) => e);
  running.abort();
  queued.abort();
  assert.equal((await first).data[0], 3);
  assert.ok((await second) instanceof ClosedError);
  assert.deepEqual(m.calls, [1]);
  assert.equal(b.depth, 0);
});
