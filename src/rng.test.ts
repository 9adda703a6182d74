import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OptionError } from './errors.js';
import { Rng, hashSeed } from './rng.js';

test('xoshiro128** matches the reference C implementation from state [1, 2, 3, 4]', () => {
  const r = Rng.fromState([1, 2, 3, 4]);
  assert.deepEqual(
    Array.from({ length: 6 }, () => r.next()),
    [11520, 0, 5927040, 70819200, 2031721883, 1637235492],
  );
});

test('same seed → same stream; state round-trips through JSON', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  for (let i = 0; i < 100; i++) assert.equal(a.next(), b.next());
  const saved = JSON.parse(JSON.stringify(a.getState())) as number[];
  const c = Rng.fromState(saved);
  for (let i = 0; i < 100; i++) assert.equal(a.next(), c.next());
  assert.notEqual(new Rng(1).next(), new Rng(2).next());
  const d = a.clone();
  assert.equal(d.float(), a.float());
});

test('fromKeys separates streams by every key and by tuple length', () => {
  const seen = new Set<number>();
  for (let e = 0; e < 10; e++) for (let i = 0; i < 100; i++) seen.add(Rng.fromKeys(7, e, i).next());
  assert.equal(seen.size, 1000);
  assert.notEqual(hashSeed(1), hashSeed(1, 0));
  assert.notEqual(hashSeed(2 ** 32), hashSeed(0));
  assert.equal(hashSeed(3, 4), hashSeed(3, 4));
});

test('float, int, normal, shuffle, permutation', () => {
  const r = new Rng(3);
  const counts = new Array<number>(6).fill(0);
  for (let i = 0; i < 60000; i++) {
    const f = r.float();
    assert.ok(f >= 0 && f < 1);
    const k = r.int(6);
    counts[k] = (counts[k] as number) + 1;
  }
  for (const c of counts) assert.ok(Math.abs(c - 10000) < 500, `int(6) counts ${counts.join(',')}`);
  let s = 0;
  let s2 = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const z = r.normal(1, 2);
    s += z;
    s2 += z * z;
  }
  const mean = s / n;
  const std = Math.sqrt(s2 / n - mean * mean);
  assert.ok(Math.abs(mean - 1) < 0.05 && Math.abs(std - 2) < 0.05, `normal mean ${mean} std ${std}`);
  const p = r.permutation(50);
  assert.deepEqual(
    [...p].sort((a, b) => a - b),
    Array.from({ length: 50 }, (_, i) => i),
  );
  const arr = ['a', 'b', 'c', 'd'];
  assert.equal(r.shuffle(arr), arr);
  assert.deepEqual([...arr].sort(), ['a', 'b', 'c', 'd']);
  assert.equal(r.int(1), 0);
  assert.ok(r.int(2 ** 32) < 2 ** 32);
});

test('invalid arguments say what was received', () => {
  assert.throws(
    () => Rng.fromState([1, 2, 3]),
    (e: unknown) => e instanceof OptionError && e.message === 'Rng.fromState: expected 4 uint32 words, got [1, 2, 3]',
  );
  assert.throws(() => Rng.fromState([0, 0, 0, 0]), /all-zero state/);
  assert.throws(() => new Rng(1).int(0), /Rng.int: n must be an integer in \[1, 2\^32\], got 0/);
  assert.throws(() => new Rng(Number.NaN), /seed keys must be finite numbers, got NaN/);
});
