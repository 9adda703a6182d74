/** Helpers shared by the weight-format tests (`src/weights/*.test.ts`). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WeightFormatError } from '../src/errors.js';
import type { StoredTensor } from '../src/weights/safetensors.js';

/** Debian's Python, where python3-torch installs. */
export const PYTHON = '/usr/bin/python3';

/** Runs a Python script (argv after it); returns stdout, fails the test with stderr. */
export function python(script: string, ...args: string[]): string {
  const r = spawnSync(PYTHON, ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** Calls `fn` with a fresh temporary folder, removed afterwards. */
export function withTmp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'weights-test-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Asserts that `fn` throws a WeightFormatError whose message matches. */
export function refuses(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof WeightFormatError, `expected a WeightFormatError, got ${String(e)}`);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

/** Per tensor, what a Python reader printed: [shape, sum, max |x|, first three values]. */
export type TensorSummaries = Record<string, [number[], number, number, number[]]>;

/** Asserts that a loaded state dict has exactly the keys, shapes, first values and sums a Python reader saw. */
export function matchesSummary(sd: Map<string, StoredTensor>, ref: TensorSummaries): void {
  assert.deepEqual([...sd.keys()], Object.keys(ref));
  for (const [key, [dims, sum, absMax, head]] of Object.entries(ref)) {
    const v = sd.get(key)!;
    assert.deepEqual(v.dims, dims, key);
    const xs = v.data instanceof BigInt64Array ? [...v.data].map(Number) : [...(v.data as Float32Array)];
    assert.deepEqual(xs.slice(0, 3), head, key);
    const s = xs.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(s - sum) <= 1e-9 * Math.max(1, xs.length * absMax), `${key}: sum ${s} vs ${sum}`);
  }
}
