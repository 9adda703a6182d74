/**
 * Optimizers as ONNX nodes over flat vectors (every trainable parameter concatenated), so the
 * update is part of the training step's one `session.run`. Semantics are PyTorch's
 * (`torch.optim.SGD`, `Adam`, `AdamW`), including the order of operations, so that one step from
 * the same gradients gives the same weights.
 */
import { OptionError } from '../errors.js';
import type { OnnxGraphBuilder } from '../graph/onnx.js';
import { scalarAfter } from '../graph/ops/index.js';

interface SgdOptions {
  type: 'sgd';
  /** Learning rate (a graph input: a schedule can change it every step). Default 0.01. */
  lr?: number;
  /** Momentum factor (PyTorch: buf = momentum·buf + g, first buf = g). Default 0. */
  momentum?: number;
  /** L2 penalty added to the gradient (g + wd·w). Default 0. */
  weightDecay?: number;
  /** Nesterov momentum (g + momentum·buf). Default false. */
  nesterov?: boolean;
}

interface AdamOptions {
  /** 'adamw' is 'adam' with `decoupledWeightDecay` true (and PyTorch's AdamW default weightDecay 0.01). */
  type: 'adam' | 'adamw';
  /** Learning rate. Default 0.001. */
  lr?: number;
  /** Decay rates of the first and second moments. Default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** Added to the denominator. Default 1e-8. */
  eps?: number;
  /** Weight decay: L2 in the gradient (Adam) or decoupled w ← w·(1 − lr·wd) (AdamW). Default 0 (adam), 0.01 (adamw). */
  weightDecay?: number;
  /** Decoupled weight decay (AdamW, Loshchilov & Hutter). Default: true for 'adamw', false for 'adam'. */
  decoupledWeightDecay?: boolean;
}

export type OptimizerOptions = SgdOptions | AdamOptions;

/** Fully resolved optimizer settings. */
export type ResolvedOptimizer =
  | { type: 'sgd'; lr: number; momentum: number; weightDecay: number; nesterov: boolean }
  | { type: 'adam'; lr: number; betas: [number, number]; eps: number; weightDecay: number; decoupledWeightDecay: boolean };

function check(ok: boolean, option: string, expected: string, got: unknown): void {
  const name = option ? `optimizer.${option}` : 'optimizer';
  if (!ok) throw new OptionError(`${name}: expected ${expected}, received ${JSON.stringify(got)}`, { option: name });
}

/** Fills defaults and validates; messages name the field and the value received. */
export function resolveOptimizer(o: OptimizerOptions): ResolvedOptimizer {
  check(o !== null && typeof o === 'object', '', "an object with type 'sgd', 'adam' or 'adamw'", o);
  const t = (o as { type: unknown }).type;
  check(t === 'sgd' || t === 'adam' || t === 'adamw', 'type', "'sgd', 'adam' or 'adamw'", t);
  const nonNeg = (v: number, name: string): void => check(Number.isFinite(v) && v >= 0, name, 'a finite number ≥ 0', v);
  if (o.type === 'sgd') {
    const r = {
      type: 'sgd' as const,
      lr: o.lr ?? 0.01,
      momentum: o.momentum ?? 0,
      weightDecay: o.weightDecay ?? 0,
      nesterov: o.nesterov ?? false,
    };
    nonNeg(r.lr, 'lr');
    check(Number.isFinite(r.momentum) && r.momentum >= 0 && r.momentum < 1, 'momentum', 'a number in [0, 1)', r.momentum);
    nonNeg(r.weightDecay, 'weightDecay');
    check(!r.nesterov || r.momentum > 0, 'nesterov', 'momentum > 0 (PyTorch requires it)', r.nesterov);
    return r;
  }
  const decoupled = o.decoupledWeightDecay ?? o.type === 'adamw';
  const r = {
    type: 'adam' as const,
    lr: o.lr ?? 0.001,
    betas: [o.betas?.[0] ?? 0.9, o.betas?.[1] ?? 0.999] as [number, number],
    eps: o.eps ?? 1e-8,
    weightDecay: o.weightDecay ?? (o.type === 'adamw' ? 0.01 : 0),
    decoupledWeightDecay: decoupled,
  };
  nonNeg(r.lr, 'lr');
  for (const [i, beta] of r.betas.entries())
    check(Number.isFinite(beta) && beta >= 0 && beta < 1, `betas[${i}]`, 'a number in [0, 1)', beta);
  check(Number.isFinite(r.eps) && r.eps > 0, 'eps', 'a positive number', r.eps);
  nonNeg(r.weightDecay, 'weightDecay');
  return r;
}

/** Names of the per-parameter state vectors, PyTorch's (`momentum_buffer`, `exp_avg`, `exp_avg_sq`). */
export function stateSlots(o: ResolvedOptimizer): string[] {
  if (o.type === 'sgd') return o.momentum > 0 ? ['momentum_buffer'] : [];
  return ['exp_avg', 'exp_avg_sq'];
}

export interface UpdateValues {
  /** Flat parameters [P]. */
  params: string;
  /** Flat gradient [P] (after clipping). */
  grad: string;
  /** Flat state per slot [P]. */
  state: Record<string, string>;
  /** Scalar learning rate. */
  lr: string;
  /** Scalar float step number t ≥ 1 (Adam's bias correction). */
  step: string;
}

/** Emits one optimizer step; returns the new parameters and state (same slots). */
export function emitUpdate(b: OnnxGraphBuilder, o: ResolvedOptimizer, v: UpdateValues): { params: string; state: Record<string, string> } {
  const emit = (op: string, ins: string[], name: string): string => {
    const out = b.fresh(`opt.${name}`);
    b.node(op, ins, [out]);
    return out;
  };
  const c = (name: string, x: number): string => b.constFloats(name, [], [x]);
  // Factors of terms that read only inputs (wd·p, m·buf, β·state) come after the gradient
  // (scalarAfter): ONNX Runtime would otherwise compute those parameter-sized terms at the start of
  // the step and keep them through the forward and backward.
  const late = (name: string, x: number): string => scalarAfter(b, v.grad, x, 1, `opt.${name}`);
  let p = v.params;
  let g = v.grad;
  if (o.type === 'sgd') {
    // PyTorch: d = g + wd·p; buf = m·buf + d (buf₀ = 0, so the first buf is d); d = d + m·buf (nesterov) or buf; p −= lr·d
    if (o.weightDecay > 0) g = emit('Add', [g, emit('Mul', [p, late('wd', o.weightDecay)], 'decay')], 'g_wd');
    const state: Record<string, string> = {};
    if (o.momentum > 0) {
      const buf = emit('Add', [emit('Mul', [v.state.momentum_buffer!, late('momentum', o.momentum)], 'buf_m'), g], 'momentum_buffer');
      state.momentum_buffer = buf;
      g = o.nesterov ? emit('Add', [g, emit('Mul', [buf, c('momentum', o.momentum)], 'nesterov')], 'd_nesterov') : buf;
    }
    return { params: emit('Sub', [p, emit('Mul', [g, v.lr], 'lr_d')], 'params'), state };
  }
  // Adam (PyTorch's single-tensor path): m = β1·m + (1−β1)·g; s = β2·s + (1−β2)·g²;
  // p −= (lr / (1 − β1ᵗ)) · m / (√s / √(1 − β2ᵗ) + eps). AdamW first scales p by 1 − lr·wd.
  const [b1, b2] = o.betas;
  if (o.weightDecay > 0) {
    if (o.decoupledWeightDecay) {
      p = emit(
        'Mul',
        [p, emit('Sub', [late('one', 1), emit('Mul', [v.lr, c('wd', o.weightDecay)], 'lr_wd')], 'decay_factor')],
        'p_decayed',
      );
    } else {
      g = emit('Add', [g, emit('Mul', [p, late('wd', o.weightDecay)], 'decay')], 'g_wd');
    }
  }
  const m = emit(
    'Add',
    [emit('Mul', [v.state.exp_avg!, late('beta1', b1)], 'm_old'), emit('Mul', [g, c('one_minus_beta1', 1 - b1)], 'm_new')],
    'exp_avg',
  );
  const s = emit(
    'Add',
    [
      emit('Mul', [v.state.exp_avg_sq!, late('beta2', b2)], 's_old'),
      emit('Mul', [emit('Mul', [g, g], 'g2'), c('one_minus_beta2', 1 - b2)], 's_new'),
    ],
    'exp_avg_sq',
  );
  const bc1 = emit('Sub', [c('one', 1), emit('Pow', [c('beta1', b1), v.step], 'beta1_t')], 'bias_correction1');
  const bc2 = emit('Sub', [c('one', 1), emit('Pow', [c('beta2', b2), v.step], 'beta2_t')], 'bias_correction2');
  const stepSize = emit('Div', [v.lr, bc1], 'step_size');
  const denom = emit(
    'Add',
    [emit('Div', [emit('Sqrt', [s], 'sqrt_s'), emit('Sqrt', [bc2], 'sqrt_bc2')], 'denom0'), c('eps', o.eps)],
    'denom',
  );
  const update = emit('Mul', [emit('Div', [m, denom], 'ratio'), stepSize], 'update');
  return { params: emit('Sub', [p, update], 'params'), state: { exp_avg: m, exp_avg_sq: s } };
}

/**
 * Scales a flat gradient so its L2 norm is at most `maxNorm` (PyTorch's `clip_grad_norm_`:
 * coef = min(maxNorm / (‖g‖ + 1e-6), 1)). Returns the clipped gradient and the norm before clipping.
 */
export function emitClipByNorm(b: OnnxGraphBuilder, grad: string, maxNorm: number): { grad: string; norm: string } {
  const emit = (op: string, ins: string[], name: string, attrs?: Parameters<OnnxGraphBuilder['node']>[3]): string => {
    const out = b.fresh(`clip.${name}`);
    b.node(op, ins, [out], attrs);
    return out;
  };
  const norm = emit('Sqrt', [emit('ReduceSumSquare', [grad], 'sumsq', { keepdims: 0 })], 'norm');
  const coef = emit(
    'Min',
    [
      emit(
        'Div',
        [b.constFloats('max_norm', [], [maxNorm]), emit('Add', [norm, b.constFloats('tiny', [], [1e-6])], 'norm_eps')],
        'coef_raw',
      ),
      b.constFloats('one', [], [1]),
    ],
    'coef',
  );
  return { grad: emit('Mul', [grad, coef], 'grad'), norm };
}
