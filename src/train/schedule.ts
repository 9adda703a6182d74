/**
 * Learning-rate schedules as pure functions of the position in training (nanoGPT's `get_lr(it)`):
 * `learningRate(config, { step, epoch })` → lr. No state, so a resumed run asks for step k and
 * gets exactly what the uninterrupted run used at step k.
 *
 * | type       | lr at global step s (e = s / stepsPerEpoch, fractional)                          |
 * |------------|----------------------------------------------------------------------------------|
 * | `constant` | lr                                                                                |
 * | `step`     | lr · gamma^⌊epoch / decayEvery⌋ — the paper's ×0.96 every 8 epochs                 |
 * | `cosine`   | minLr + (lr − minLr) · ½(1 + cos(π · t)), t = steps after warm-up / their count   |
 *
 * Every type can start with a linear warm-up over `warmupEpochs` (from lr/warmupSteps to lr).
 */
import { OptionError } from '../errors.js';

export const SCHEDULES = ['constant', 'step', 'cosine'] as const;
type ScheduleType = (typeof SCHEDULES)[number];

/** A schedule (JSON; checkpoints store it). */
export interface ScheduleConfig {
  /** Which curve. */
  type: ScheduleType;
  /** Peak (base) learning rate. */
  lr: number;
  /** Optimizer steps per epoch (batches per epoch). */
  stepsPerEpoch: number;
  /** Total epochs of the run (the cosine's length). */
  epochs: number;
  /** Linear warm-up length in epochs (fractions allowed). Default 0. */
  warmupEpochs?: number;
  /** `step`: multiplier per decay. Default 0.96 (paper). */
  gamma?: number;
  /** `step`: epochs between decays. Default 8 (paper). */
  decayEvery?: number;
  /** `cosine`: the final learning rate. Default 0. */
  minLr?: number;
}

const SCHEDULE_DEFAULTS = { warmupEpochs: 0, gamma: 0.96, decayEvery: 8, minLr: 0 } as const;

/** Where training is: the global step (batches done since the start) and the epoch it falls in. */
export interface SchedulePosition {
  /** Global optimizer step, 0-based. */
  step: number;
  /** Epoch, 0-based; default ⌊step / stepsPerEpoch⌋. */
  epoch?: number;
}

/** @throws OptionError naming the field and the value received. */
export function validateSchedule(c: ScheduleConfig): void {
  const bad = (field: string, want: string, got: unknown): never => {
    throw new OptionError(`schedule ${field}: expected ${want}, received ${JSON.stringify(got)}`, { option: field });
  };
  if (!(SCHEDULES as readonly string[]).includes(c.type)) bad('type', `one of ${SCHEDULES.join(', ')}`, c.type);
  if (!(Number.isFinite(c.lr) && c.lr > 0)) bad('lr', 'a positive number', c.lr);
  if (!(Number.isInteger(c.stepsPerEpoch) && c.stepsPerEpoch >= 1)) bad('stepsPerEpoch', 'a positive integer', c.stepsPerEpoch);
  if (!(Number.isInteger(c.epochs) && c.epochs >= 1)) bad('epochs', 'a positive integer', c.epochs);
  const w = c.warmupEpochs ?? 0;
  if (!(Number.isFinite(w) && w >= 0)) bad('warmupEpochs', 'a number ≥ 0', w);
  const g = c.gamma ?? SCHEDULE_DEFAULTS.gamma;
  if (!(Number.isFinite(g) && g > 0 && g <= 1)) bad('gamma', 'a number in (0, 1]', g);
  const d = c.decayEvery ?? SCHEDULE_DEFAULTS.decayEvery;
  if (!(Number.isFinite(d) && d > 0)) bad('decayEvery', 'a positive number of epochs', d);
  const m = c.minLr ?? 0;
  if (!(Number.isFinite(m) && m >= 0 && m <= c.lr)) bad('minLr', `a number in [0, lr = ${c.lr}]`, m);
}

/** The learning rate at a position. Pure: same inputs, same output. */
export function learningRate(c: ScheduleConfig, pos: SchedulePosition): number {
  const spe = c.stepsPerEpoch;
  const step = pos.step;
  const epoch = pos.epoch ?? Math.floor(step / spe);
  const warmupSteps = Math.round((c.warmupEpochs ?? 0) * spe);
  if (step < warmupSteps) return (c.lr * (step + 1)) / warmupSteps;
  switch (c.type) {
    case 'constant':
      return c.lr;
    case 'step': {
      const gamma = c.gamma ?? SCHEDULE_DEFAULTS.gamma;
      const every = c.decayEvery ?? SCHEDULE_DEFAULTS.decayEvery;
      return c.lr * Math.pow(gamma, Math.floor(epoch / every));
    }
    case 'cosine': {
      const minLr = c.minLr ?? SCHEDULE_DEFAULTS.minLr;
      const total = c.epochs * spe - warmupSteps;
      const t = total <= 0 ? 1 : Math.min(1, (step - warmupSteps) / total);
      return minLr + (c.lr - minLr) * 0.5 * (1 + Math.cos(Math.PI * t));
    }
  }
}

/** The whole curve, one value per step (for plots and tests). */
export function scheduleCurve(c: ScheduleConfig): Float64Array {
  const n = c.epochs * c.stepsPerEpoch;
  const out = new Float64Array(n);
  for (let s = 0; s < n; s++) out[s] = learningRate(c, { step: s });
  return out;
}
