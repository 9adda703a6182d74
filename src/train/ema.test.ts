import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Weights } from '../graph/lower.js';
import { Ema } from './ema.js';

const w = (a: number[], n = 0n): Weights =>
  new Map<string, Float32Array | BigInt64Array>([
    ['fc.weight', Float32Array.from(a)],
    ['bn.num_batches_tracked', BigInt64Array.of(n)],
  ]);

test('shadow ← d·shadow + (1 − d)·w, integer buffers copied', () => {
  const e = new Ema(w([0, 10]), { decay: 0.9, warmup: false });
  e.update(w([1, 0], 5n));
  const s = e.shadow.get('fc.weight') as Float32Array;
  assert.ok(Math.abs(s[0]! - 0.1) < 1e-6 && Math.abs(s[1]! - 9) < 1e-6, `${Array.from(s)}`);
  assert.equal((e.shadow.get('bn.num_batches_tracked') as BigInt64Array)[0], 5n);
  assert.equal(e.steps, 1);
});

test('update(w, k) equals k updates with the same weights', () => {
  const a = new Ema(w([0, 4]), { decay: 0.99 });
  const b = new Ema(w([0, 4]), { decay: 0.99 });
  for (let i = 0; i < 3; i++) a.update(w([2, -2]));
  b.update(w([2, -2]), 3);
  const sa = a.shadow.get('fc.weight') as Float32Array;
  const sb = b.shadow.get('fc.weight') as Float32Array;
  for (let i = 0; i < 2; i++) assert.ok(Math.abs(sa[i]! - sb[i]!) < 1e-6, `${sa[i]} vs ${sb[i]}`);
  assert.equal(a.steps, b.steps);
});

test('warm-up: the early decay is (1 + t)/(10 + t), capped at the decay', () => {
  const e = new Ema(w([0]), { decay: 0.999 });
  assert.equal(e.decayAt(0), 0.1);
  assert.equal(e.decayAt(90), 91 / 100);
  assert.equal(e.decayAt(1e6), 0.999);
  e.update(w([1]));
  assert.ok(Math.abs((e.shadow.get('fc.weight') as Float32Array)[0]! - 0.9) < 1e-6, 'first update mostly takes the new weights');
});

test('a constant input converges to it; state round-trips; weights() is a copy', () => {
  const e = new Ema(w([0]), { decay: 0.5, warmup: false });
  for (let i = 0; i < 40; i++) e.update(w([3]));
  assert.ok(Math.abs((e.shadow.get('fc.weight') as Float32Array)[0]! - 3) < 1e-6);
  const f = Ema.fromState(e.state());
  assert.deepEqual(f.state().steps, 40);
  assert.deepEqual(Array.from(f.shadow.get('fc.weight') as Float32Array), Array.from(e.shadow.get('fc.weight') as Float32Array));
  const copy = e.weights();
  (copy.get('fc.weight') as Float32Array)[0] = 99;
  assert.notEqual((e.shadow.get('fc.weight') as Float32Array)[0], 99);
});

test('bad decay names the flag', () => {
  assert.throws(() => new Ema(w([0]), { decay: 1 }), /--ema: expected a decay in \(0, 1\), received 1/);
  assert.throws(() => new Ema(w([0]), { decay: 0 }), /--ema: expected a decay in \(0, 1\), received 0/);
});
