/** Fresh weights for a network's parameters, as torchvision initialises them. */
import type { ParamSpec } from '../graph/ir.js';
import type { Weights } from '../graph/lower.js';
import type { Rng } from '../rng.js';
import { numel } from '../tensor.js';
import { architectureOf } from './arch.js';
import type { ModelConfig } from './config.js';

/**
 * Initial values, torchvision's scheme: conv and linear weights normal, clipped to ±2, with the
 * architecture's standard deviation (GoogLeNet 0.01, Inception v3 0.1; see `arch.ts`), batch norm
 * γ = 1, β = 0, running mean 0, variance 1; biases U(±1/√fan_in) as PyTorch's default.
 */
export function initWeights(params: Iterable<ParamSpec>, cfg: ModelConfig, rng: Rng): Weights {
  const arch = architectureOf(cfg);
  const specs = [...params];
  const w: Weights = new Map();
  const fanIn = new Map<string, number>();
  for (const p of specs) if (p.role === 'conv.weight' || p.role === 'linear.weight') fanIn.set(p.name.replace(/\.weight$/, ''), numel(p.shape.slice(1)));
  for (const p of specs) {
    const n = numel(p.shape);
    if (p.role === 'bn.num_batches_tracked') {
      w.set(p.name, new BigInt64Array(1));
      continue;
    }
    const a = new Float32Array(n);
    switch (p.role) {
      case 'conv.weight':
      case 'linear.weight': {
        const std = arch.initStd(p, cfg);
        for (let i = 0; i < n; i++) a[i] = Math.max(-2, Math.min(2, rng.normal() * std));
        break;
      }
      case 'conv.bias':
      case 'linear.bias': {
        const bound = 1 / Math.sqrt(fanIn.get(p.name.replace(/\.bias$/, '')) ?? 1);
        for (let i = 0; i < n; i++) a[i] = (rng.float() * 2 - 1) * bound;
        break;
      }
      case 'bn.weight':
      case 'bn.running_var':
        a.fill(1);
        break;
      default:
        break; // bn.bias, bn.running_mean: zeros
    }
    w.set(p.name, a);
  }
  return w;
}
