/**
 * The ONNX graph of one training step: the network's train-mode graph, differentiated
 * (`graph/autodiff.ts`), with the loss and the optimizer update, all in ONE ONNX graph, so that a
 * whole step is one `session.run`:
 *
 *   in:  input N×C×H×W, labels [N], params [P], frozen [F], bn_stats [S], seed,
 *        then (kind 'step') optimizer state [P] per slot, lr, step
 *   out: loss, per-head losses, correct (int64), bn_stats_out [S],
 *        then params_out [P] and <slot>_out [P] (kind 'step') or grad.<parameter> (kind 'gradients')
 *
 * Trainable parameters travel as one flat vector (sliced inside the graph), so the optimizer is a
 * handful of vector ops and the JS side holds three arrays whatever the network. Frozen
 * parameters travel in a second flat vector that gets no gradient; nodes that lead only to
 * frozen parameters get no backward at all (fine-tuning the head differentiates the head only).
 */
import { InternalError, OptionError, WeightFormatError } from '../errors.js';
import { backward, lowerForward, type Forward } from '../graph/autodiff.js';
import { fuseSiblingConvs } from '../graph/fuse.js';
import type { Graph, ParamSpec } from '../graph/ir.js';
import { isTrainable } from '../graph/ir.js';
import { OnnxGraphBuilder } from '../graph/onnx.js';
import { softmaxCrossEntropy, type FloatType, type LoweringOptions } from '../graph/ops/index.js';
import { numel } from '../tensor.js';
import { emitClipByNorm, emitUpdate, stateSlots, type ResolvedOptimizer } from './optim.js';

/** Where each parameter lives in a flat vector. */
interface FlatSlot {
  name: string;
  shape: readonly number[];
  offset: number;
  size: number;
}

class FlatLayout {
  readonly slots: FlatSlot[] = [];
  readonly byName = new Map<string, FlatSlot>();
  total = 0;
  constructor(entries: Iterable<{ name: string; shape: readonly number[] }>) {
    for (const e of entries) {
      const slot = { name: e.name, shape: e.shape, offset: this.total, size: numel(e.shape) };
      this.slots.push(slot);
      this.byName.set(e.name, slot);
      this.total += slot.size;
    }
  }
  /** Gathers named arrays into one flat vector. */
  pack(get: (name: string) => ArrayLike<number>): Float32Array {
    const out = new Float32Array(this.total);
    for (const s of this.slots) {
      const v = get(s.name);
      if (v.length !== s.size) throw new WeightFormatError(`${s.name}: ${v.length} values, expected ${s.size}`, { file: '<weights>' });
      out.set(v, s.offset);
    }
    return out;
  }
  /** A copy of one entry of a flat vector. */
  unpack(flat: Float32Array, name: string): Float32Array {
    const s = this.byName.get(name);
    if (!s) throw new InternalError(`no parameter ${name} in this layout`);
    return flat.slice(s.offset, s.offset + s.size);
  }
}

/** How the training graph is laid out: which values travel in which flat vector. */
export interface TrainLayout {
  trainable: FlatLayout;
  frozen: FlatLayout;
  /** Running mean and variance of every batch norm, in graph order, keyed by parameter name. */
  stats: FlatLayout;
  /** Side-output key (`running_mean.<bn>`) → running-stat parameter name. */
  statKeys: Map<string, string>;
  /** `num_batches_tracked` counters, kept in JS. */
  counters: string[];
}

export function trainLayout(g: Graph, freeze: (name: string) => boolean): TrainLayout {
  const specs = [...g.params.values()];
  const trainable = specs.filter((p) => isTrainable(p) && !freeze(p.name));
  const frozen = specs.filter((p) => isTrainable(p) && freeze(p.name));
  const stats: ParamSpec[] = [];
  const statKeys = new Map<string, string>();
  const counters: string[] = [];
  for (const n of g.nodes) {
    if (n.op !== 'batchnorm') continue;
    stats.push(g.params.get(n.runningMean)!, g.params.get(n.runningVar)!);
    statKeys.set(`running_mean.${n.scope}`, n.runningMean);
    statKeys.set(`running_var.${n.scope}`, n.runningVar);
    counters.push(n.numBatches);
  }
  return { trainable: new FlatLayout(trainable), frozen: new FlatLayout(frozen), stats: new FlatLayout(stats), statKeys, counters };
}

/**
 * An estimate of the memory a training step takes at batch `n`, in bytes: every activation of the
 * network (the values the backward keeps, and as much again of gradients and scratch in flight),
 * plus the flat parameter vectors fed and returned (parameters, their gradient, the optimizer's
 * `slots` state vectors in and out). Measured against ONNX Runtime's own peak (its profiler's
 * bytes in use): cifar preset 32², batch 64: 2429 MiB estimated, 2570 MiB in use; bn 224², batch
 * 16: see docs/PERFORMANCE.md#memory. Not a bound: a refusal check for steps that cannot fit.
 */
export function estimateStepBytes(g: Graph, layout: TrainLayout, n: number, slots: number): number {
  let perSample = 0;
  for (const node of g.nodes) perSample += numel(g.shapes.get(node.id) ?? []);
  const flat = layout.trainable.total * (4 + 2 * slots) + layout.frozen.total + 2 * layout.stats.total;
  return 4 * (n * (perSample + numel(g.input.shape)) + flat);
}

export interface TrainGraphOptions {
  /** 'step': forward, backward and the optimizer update; 'gradients': forward and backward, every gradient an output. */
  kind: 'step' | 'gradients';
  numClasses: number;
  auxWeight: number;
  labelSmoothing: number;
  /** Required for kind 'step'. */
  optimizer?: ResolvedOptimizer;
  clipGradNorm?: number;
  /** Element type; 'float64' only for kind 'gradients' (the float64 parity test, which also passes `lowering.conv`). Default 'float32'. */
  dtype?: FloatType;
  /** Fuse sibling 1×1 convolutions (see `graph/fuse.ts`). Default true. */
  fuseSiblings?: boolean;
  /** How operations are lowered (see `LoweringOptions`). Default: every default. */
  lowering?: LoweringOptions;
}

export interface TrainGraph {
  bytes: Uint8Array;
  /** Input names the session expects. */
  inputs: Set<string>;
  /** Heads present, by output name (`logits`, `aux1`, `aux2`). */
  heads: string[];
  /** Whether the graph draws dropout masks (takes a `seed`). */
  usesSeed: boolean;
}

/** The training graph being written: its builder, its inputs so far, its element type. */
class TrainGraphWriter {
  readonly b = new OnnxGraphBuilder('googlenet_train');
  readonly inputs = new Set<string>();
  constructor(readonly ft: FloatType) {}
  input(name: string, dtype: FloatType | 'int64', dims: (number | string)[]): string {
    this.b.input({ name, dtype, dims });
    this.inputs.add(name);
    return name;
  }
  output(name: string, value: string, dtype: FloatType | 'int64', dims: number[]): void {
    this.b.node('Identity', [value], [name]);
    this.b.output({ name, dtype, dims });
  }
  fconst(hint: string, dims: readonly number[], v: ArrayLike<number>): string {
    return this.ft === 'float64'
      ? this.b.constant(hint, { dims, dtype: 'float64', data: Float64Array.from(v) })
      : this.b.constFloats(hint, dims, v);
  }
}

/**
 * Declares the flat parameter inputs; returns each parameter's value: a slice of its flat input,
 * reshaped to PyTorch's layout, emitted on first use.
 */
function flatParams(w: TrainGraphWriter, layout: TrainLayout): { params: string; param: (name: string) => string } {
  const { b, ft } = w;
  const params = w.input('params', ft, [layout.trainable.total]);
  const frozen = layout.frozen.total > 0 ? w.input('frozen', ft, [layout.frozen.total]) : '';
  const stats = layout.stats.total > 0 ? w.input('bn_stats', ft, [layout.stats.total]) : '';
  const values = new Map<string, string>();
  const param = (name: string): string => {
    let v = values.get(name);
    if (v) return v;
    const [flat, slot] = layout.trainable.byName.has(name)
      ? [params, layout.trainable.byName.get(name)!]
      : layout.frozen.byName.has(name)
        ? [frozen, layout.frozen.byName.get(name)!]
        : [stats, layout.stats.byName.get(name)];
    if (!slot) throw new InternalError(`training graph: parameter ${name} is in no flat input`);
    const sl = b.fresh(`${name}.flat`);
    v = b.fresh(name);
    b.scoped('params', () => {
      b.node('Slice', [flat, b.constInts('start', [slot.offset]), b.constInts('end', [slot.offset + slot.size])], [sl]);
      b.node('Reshape', [sl, b.constInts('shape', slot.shape.length ? [...slot.shape] : [])], [v!]);
    });
    values.set(name, v);
    return v;
  };
  return { params, param };
}

interface Losses {
  /** main + auxWeight·(aux1 + aux2). */
  loss: string;
  /** Each head's unweighted loss, by head (`main`, `aux1`, `aux2`). */
  heads: Map<string, string>;
  /** Top-1 correct predictions of the main head (int64). */
  correct: string;
  /** The backward pass's seeds: each head's weighted gradient, by the head's value. */
  seeds: Record<string, string>;
}

/** Cross-entropy of every head, their weighted sum, and the gradients that seed the backward pass. */
function emitLosses(w: TrainGraphWriter, g: Graph, outputs: string[], labels: string, o: TrainGraphOptions): Losses {
  const { b } = w;
  const heads = new Map<string, string>();
  const seeds: Record<string, string> = {};
  let correct = '';
  for (const h of outputs) {
    const value = g.outputs[h]!;
    const weight = h === 'logits' ? 1 : o.auxWeight;
    const ce = softmaxCrossEntropy(b, value, labels, h === 'logits' ? 'main' : h, {
      numClasses: o.numClasses,
      labelSmoothing: o.labelSmoothing,
      weight,
      accuracy: h === 'logits',
      dtype: w.ft,
    });
    if (ce.correct) correct = ce.correct;
    heads.set(h === 'logits' ? 'main' : h, ce.loss);
    if (weight !== 0) seeds[value] = ce.grad;
  }
  let loss = heads.get('main')!;
  for (const h of ['aux1', 'aux2']) {
    const l = heads.get(h);
    if (!l) continue;
    const weighted = b.fresh(`${h}.weighted`);
    b.node('Mul', [l, w.fconst('aux_weight', [], [o.auxWeight])], [weighted]);
    const sum = b.fresh('loss_sum');
    b.node('Add', [loss, weighted], [sum]);
    loss = sum;
  }
  return { loss, heads, correct, seeds };
}

/** The losses, the correct count, and the batch norms' updated running statistics as one flat output. */
function emitStepOutputs(w: TrainGraphWriter, layout: TrainLayout, losses: Losses, fwd: Forward): void {
  w.output('loss', losses.loss, w.ft, []);
  for (const [h, l] of losses.heads) w.output(`loss.${h}`, l, w.ft, []);
  w.output('correct', losses.correct, 'int64', []);
  if (layout.stats.total === 0) return;
  const parts = layout.stats.slots.map((s) => {
    const key = [...layout.statKeys].find(([, p]) => p === s.name)![0];
    return fwd.sideValues.get(key)!;
  });
  const cat = w.b.fresh('bn_stats');
  w.b.node('Concat', parts, [cat], { axis: 0 });
  w.output('bn_stats_out', cat, w.ft, [layout.stats.total]);
}

/** The flat gradient, clipped, and the optimizer's update of the flat parameters and its state. */
function emitOptimizerStep(
  w: TrainGraphWriter,
  layout: TrainLayout,
  o: TrainGraphOptions,
  params: string,
  gradOf: (s: FlatSlot) => string,
): void {
  const { b } = w;
  const P = layout.trainable.total;
  const flatParts = layout.trainable.slots.map((s) => {
    const f = b.fresh(`${s.name}.gflat`);
    b.node('Reshape', [gradOf(s), b.constInts('flat', [-1])], [f]);
    return f;
  });
  let grad = b.fresh('grad_flat');
  b.node('Concat', flatParts, [grad], { axis: 0 });
  if (o.clipGradNorm !== undefined) {
    const clipped = emitClipByNorm(b, grad, o.clipGradNorm);
    grad = clipped.grad;
    w.output('grad_norm', clipped.norm, 'float32', []);
  }
  if (!o.optimizer) throw new OptionError("buildTrainGraph: kind 'step' needs an optimizer", { option: 'optimizer' });
  const opt = o.optimizer;
  const slots = stateSlots(opt);
  const state: Record<string, string> = {};
  for (const s of slots) state[s] = w.input(s, 'float32', [P]);
  const lr = w.input('lr', 'float32', []);
  const step = opt.type === 'adam' ? w.input('step', 'float32', []) : '';
  const upd = emitUpdate(b, opt, { params, grad, state, lr, step });
  w.output('params_out', upd.params, 'float32', [P]);
  for (const s of slots) w.output(`${s}_out`, upd.state[s]!, 'float32', [P]);
}

/** Builds the ONNX training graph of a train-mode network graph. */
export function buildTrainGraph(g: Graph, layout: TrainLayout, o: TrainGraphOptions): TrainGraph {
  const ft = o.dtype ?? 'float32';
  if (ft === 'float64' && o.kind !== 'gradients')
    throw new OptionError("buildTrainGraph: float64 is for kind 'gradients' only", { option: 'dtype' });
  const w = new TrainGraphWriter(ft);
  w.input(g.input.name, ft, ['N', ...g.input.shape]);
  const labels = w.input('labels', 'int64', ['N']);
  const { params, param } = flatParams(w, layout);
  const usesSeed = g.nodes.some((n) => n.op === 'dropout' && n.p > 0);
  const seed = usesSeed ? w.input('seed', 'int64', []) : undefined;

  const graph = o.fuseSiblings === false ? g : fuseSiblingConvs(g).graph;
  const fwd = lowerForward({ b: w.b, graph, param, dtype: ft, ...(seed ? { seed } : {}), ...(o.lowering ? { lowering: o.lowering } : {}) });
  const heads = ['logits', 'aux1', 'aux2'].filter((h) => g.outputs[h] !== undefined);
  const losses = w.b.scoped('loss', () => emitLosses(w, g, heads, labels, o));
  const frozenNames = new Set(layout.frozen.slots.map((s) => s.name));
  const grads = backward(fwd, { seeds: losses.seeds, wrt: (p) => !frozenNames.has(p.name) });
  emitStepOutputs(w, layout, losses, fwd);

  // Every trainable parameter must have a gradient (a zero one if it does not reach the loss).
  const gradOf = (s: FlatSlot): string => grads.params.get(s.name) ?? w.fconst(`${s.name}.nograd`, s.shape, new Float32Array(s.size));
  if (o.kind === 'gradients') {
    for (const s of layout.trainable.slots) w.output(`grad.${s.name}`, gradOf(s), ft, [...s.shape]);
  } else {
    w.b.scoped('optimizer', () => emitOptimizerStep(w, layout, o, params, gradOf));
  }
  return { bytes: w.b.encode(), inputs: w.inputs, heads, usesSeed };
}
