/**
 * Polyak averaging: an exponential moving average of the weights (timm's `ModelEmaV2`),
 *   shadow ← d · shadow + (1 − d) · w   after every update,
 * over every floating-point tensor of the model (parameters and batch-norm running statistics,
 * as timm does); integer buffers (`num_batches_tracked`) are copied. The averaged weights are
 * evaluated and saved next to the raw ones.
 *
 * `update(weights, steps)` folds `steps` optimizer steps into one update with decay d^steps, so
 * the loop may average every k-th step (reading the weights out of the training session costs a
 * copy) and still follow the same time constant.
 */
import { OptionError } from '../errors.js';
import type { Weights } from '../graph/lower.js';

export interface EmaOptions {
  /** Decay per optimizer step, in (0, 1). E.g. 0.999. */
  decay: number;
  /**
   * Early warm-up of the decay: d_t = min(d, (1 + t) / (10 + t)) with t the step count (TensorFlow's
   * `num_updates`), so the average is not dominated by the random initial weights. Default true.
   */
  warmup?: boolean;
}

/** The EMA's serializable state (checkpoints store it). */
export interface EmaState {
  decay: number;
  warmup: boolean;
  /** Optimizer steps folded in so far. */
  steps: number;
  shadow: Map<string, Float32Array | BigInt64Array>;
}

export class Ema {
  readonly decay: number;
  readonly warmup: boolean;
  /** Optimizer steps folded in so far. */
  steps = 0;
  /** The averaged tensors by torchvision name. */
  readonly shadow = new Map<string, Float32Array | BigInt64Array>();

  constructor(weights: Weights, options: EmaOptions) {
    const { decay } = options;
    if (!(Number.isFinite(decay) && decay > 0 && decay < 1))
      throw new OptionError(`--ema: expected a decay in (0, 1), received ${decay}`, { option: 'decay' });
    this.decay = decay;
    this.warmup = options.warmup ?? true;
    for (const [k, v] of weights) this.shadow.set(k, copy(v));
  }

  /** The decay applied for one step at step count `t`. */
  decayAt(t: number): number {
    return this.warmup ? Math.min(this.decay, (1 + t) / (10 + t)) : this.decay;
  }

  /**
   * Folds the current weights in, as `steps` consecutive updates with the same weights (the
   * product of the per-step decays).
   */
  update(weights: Weights, steps = 1): void {
    if (!(Number.isInteger(steps) && steps >= 1))
      throw new OptionError(`Ema.update: steps must be a positive integer, got ${steps}`, { option: 'steps' });
    let d = 1;
    for (let i = 0; i < steps; i++) d *= this.decayAt(this.steps + i);
    this.steps += steps;
    const a = 1 - d;
    for (const [k, s] of this.shadow) {
      const w = weights.get(k);
      if (!w) throw new OptionError(`Ema.update: the model has no tensor "${k}"`, { option: 'weights' });
      if (s instanceof BigInt64Array) {
        s.set(w as BigInt64Array);
        continue;
      }
      const wf = w as Float32Array;
      if (wf.length !== s.length)
        throw new OptionError(`Ema.update: "${k}" has ${wf.length} values, the average ${s.length}`, { option: 'weights' });
      for (let i = 0; i < s.length; i++) s[i] = (s[i] as number) * d + (wf[i] as number) * a;
    }
  }

  /** A copy of the averaged weights, e.g. to load into a model for evaluation. */
  weights(): Weights {
    const out: Weights = new Map();
    for (const [k, v] of this.shadow) out.set(k, copy(v));
    return out;
  }

  state(): EmaState {
    return { decay: this.decay, warmup: this.warmup, steps: this.steps, shadow: this.shadow };
  }

  static fromState(s: EmaState): Ema {
    const e = new Ema(new Map(), { decay: s.decay, warmup: s.warmup });
    e.steps = s.steps;
    for (const [k, v] of s.shadow) e.shadow.set(k, copy(v));
    return e;
  }
}

function copy(v: Float32Array | BigInt64Array | ArrayLike<number>): Float32Array | BigInt64Array {
  if (v instanceof BigInt64Array) return BigInt64Array.from(v);
  return Float32Array.from(v as ArrayLike<number>);
}
