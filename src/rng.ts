/**
 * A small seeded pseudo-random generator with serializable state: xoshiro128** (Blackman & Vigna),
 * seeded through a SplitMix32-style mixer. Every random choice in the library (weight init,
 * dropout seeds, shuffles, augmentation) goes through it, so a run is a pure function of its seed
 * and a checkpoint can store `getState()` to resume the exact stream.
 *
 * Streams for independent purposes are derived from a tuple of integer keys
 * (`Rng.fromKeys(seed, epoch, index)`), never from wall-clock time or `Math.random`.
 */
import { OptionError } from './errors.js';

const TWO_POW_32 = 4294967296;

/** MurmurHash3's 32-bit finalizer: a bijective avalanche mix of a uint32. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Splits a finite number into its low and high 32-bit words (integers up to 2^53; negatives keep their sign in `hi`). */
function words(key: number): [number, number] {
  if (!Number.isFinite(key)) throw new OptionError(`Rng: seed keys must be finite numbers, got ${key}`, { option: 'seed' });
  const k = Math.trunc(key);
  const lo = k >>> 0;
  const hi = Math.floor(k / TWO_POW_32) >>> 0;
  return [lo, hi];
}

/**
 * Hashes a tuple of integers into one uint32. Distinct tuples give (with overwhelming probability)
 * distinct, well-mixed values; the tuple's length is part of the hash, so `(1)` and `(1, 0)` differ.
 */
export function hashSeed(...keys: number[]): number {
  let h = fmix32(0x9e3779b9 ^ keys.length);
  for (const key of keys) {
    const [lo, hi] = words(key);
    h = fmix32((h ^ lo) + 0x7f4a7c15);
    h = fmix32((h ^ hi) + 0x6a09e667);
  }
  return h;
}

/**
 * xoshiro128**: 128 bits of state, period 2^128 − 1, passes BigCrush; `next()` is four additions,
 * shifts and two multiplications on uint32s.
 *
 * ```ts
 * const rng = new Rng(42);
 * rng.float();          // [0, 1)
 * rng.int(10);          // 0…9, unbiased
 * const saved = rng.getState();
 * Rng.fromState(saved).next() === rng.next(); // true
 * ```
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** @param seed any finite number (integers up to 2^53 are distinct seeds); default 0. */
  constructor(seed = 0) {
    const [s0, s1, s2, s3] = Rng.expand([seed]);
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
  }

  /** A generator whose stream depends on every key, e.g. `Rng.fromKeys(seed, epoch, sampleIndex)`. */
  static fromKeys(...keys: number[]): Rng {
    const r = new Rng(0);
    [r.s0, r.s1, r.s2, r.s3] = Rng.expand(keys);
    return r;
  }

  /** Rebuilds a generator from `getState()`'s four uint32 words. */
  static fromState(state: readonly number[]): Rng {
    if (state.length !== 4 || !state.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_POW_32)) {
      throw new OptionError(`Rng.fromState: expected 4 uint32 words, got [${state.join(', ')}]`, { option: 'state' });
    }
    if (state.every((w) => w === 0))
      throw new OptionError('Rng.fromState: the all-zero state is not a valid xoshiro128** state', { option: 'state' });
    const r = new Rng(0);
    r.s0 = state[0] as number;
    r.s1 = state[1] as number;
    r.s2 = state[2] as number;
    r.s3 = state[3] as number;
    return r;
  }

  /** Four well-mixed, not-all-zero state words from a key tuple (SplitMix32-style counter + mix). */
  private static expand(keys: readonly number[]): [number, number, number, number] {
    let x = hashSeed(...keys);
    const out: number[] = [];
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      out.push(fmix32(x));
    }
    if (!out.some((w) => w !== 0)) out[0] = 1;
    return out as [number, number, number, number];
  }

  /** The state as four uint32 words (JSON-serializable). */
  getState(): number[] {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  /** An independent copy at the same position. */
  clone(): Rng {
    return Rng.fromState(this.getState());
  }

  /** A new generator seeded from four draws of this one (advances this one by four steps). */
  fork(): Rng {
    return Rng.fromKeys(this.next(), this.next(), this.next(), this.next());
  }

  /** The next uint32 in [0, 2^32). */
  next(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    this.s3 >>>= 0;
    return result;
  }

  /** A float in [0, 1) with 32 bits of resolution (one draw). */
  float(): number {
    return this.next() / TWO_POW_32;
  }

  /** A float in [lo, hi) (one draw). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float();
  }

  /** An unbiased integer in [0, n) for 1 ≤ n ≤ 2^32 (rejection sampling; usually one draw). */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32)
      throw new OptionError(`Rng.int: n must be an integer in [1, 2^32], got ${n}`, { option: 'n' });
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const r = this.next();
      if (r < limit) return r % n;
    }
  }

  /** A normal deviate (Box–Muller; two draws, no cached spare, so the state alone defines the stream). */
  normal(mean = 0, std = 1): number {
    const u1 = 1 - this.float(); // (0, 1]
    const u2 = this.float();
    return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Shuffles `array` in place (Fisher–Yates, from the end) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }

  /** A random permutation of 0…n−1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
