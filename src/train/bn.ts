/**
 * Bias correction of batch-norm running statistics, the way Adam corrects its moments.
 *
 * A running statistic starts at r₀ (mean 0, variance 1) and after t training steps is
 *   r_t = (1 − m)^t · r₀ + Σ_i m (1 − m)^(t−i) · b_i,
 * so its estimate of the batch statistics b is (r_t − (1 − m)^t · r₀) / (1 − (1 − m)^t).
 * With torchvision's initialization the activations' variance is ~1e-3, far from r₀ = 1, so for
 * the first ~100 steps the plain running variance is dominated by its initial value and an
 * evaluation right after a short first epoch predicts one class. The correction fixes that and
 * fades to nothing: at t = 300 with m = 0.1, (1 − m)^t ≈ 2e-14.
 *
 * Applied only to evaluation copies and saved models of runs that start from initialization;
 * checkpoints keep the raw statistics, so resuming is exact.
 */
import type { Graph } from '../graph/ir.js';
import type { Weights } from '../graph/lower.js';

/** A copy of `weights` with every batch norm's running mean/variance bias-corrected for its own step count. */
export function biasCorrectedBatchNorm(graph: Graph, weights: Weights): Weights {
  const out: Weights = new Map(weights);
  for (const n of graph.nodes) {
    if (n.op !== 'batchnorm') continue;
    const t = Number((weights.get(n.numBatches) as BigInt64Array | undefined)?.[0] ?? 0n);
    if (t <= 0) continue;
    const keep = Math.pow(1 - n.momentum, t);
    if (keep < 1e-12) continue;
    const scale = 1 / (1 - keep);
    const mean = weights.get(n.runningMean) as Float32Array;
    const v = weights.get(n.runningVar) as Float32Array;
    const m2 = new Float32Array(mean.length);
    const v2 = new Float32Array(v.length);
    for (let i = 0; i < mean.length; i++) m2[i] = (mean[i]! - keep * 0) * scale;
    for (let i = 0; i < v.length; i++) v2[i] = Math.max(0, (v[i]! - keep * 1) * scale);
    out.set(n.runningMean, m2);
    out.set(n.runningVar, v2);
  }
  return out;
}
