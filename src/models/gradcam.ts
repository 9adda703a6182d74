/**
 * Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
 * Localization", arXiv 1610.02391) as ONE ONNX graph built from a model's graph: the eval-mode
 * forward pass, then the gradient of the chosen class score y_c (a logit, before the softmax) with
 * respect to a tap's feature map A (N×K×h×w), formed by the graph's own differentiation
 * (`graph/autodiff.ts`), then
 *
 *   α_k = (1/hw) Σ_ij ∂y_c/∂A^k_ij        N×K   (how much channel k matters for class c)
 *   cam = ReLU(Σ_k α_k A^k)                N×h×w (where the evidence for class c is)
 *
 * Grad-CAM++ (Chattopadhyay et al., arXiv 1710.11063) falls out of the same gradient g = ∂y_c/∂A:
 * only the channel weights differ, α_k = Σ_ij a_ij·ReLU(g_ij) with a_ij = g²/(2g² + (Σ_ab A_ab)·g³),
 * the paper's closed form for an exponential of the score (where g = 0, a = 0). Guided variants
 * would need another backward rule for ReLU, so they are not here.
 *
 * Also here: which taps can be explained for which head, and the branches of a module whose output
 * is a concatenation (an Inception module's four branches), all read from the graph itself, so any
 * network built with the graph builder gets them (nothing here knows GoogLeNet's names).
 */
import { describeValue, InternalError, OptionError } from '../errors.js';
import { backward, lowerForward } from '../graph/autodiff.js';
import type { ConcatNode, Graph, OpNode } from '../graph/ir.js';
import { nodeInputs, nodeOutputs, pruneGraph } from '../graph/ir.js';
import type { Weights } from '../graph/lower.js';
import { OnnxGraphBuilder, type OnnxTensor } from '../graph/onnx.js';
import type { LoweringOptions } from '../graph/ops/index.js';
import type { Tensor } from '../tensor.js';

/** What `GoogLeNet.gradCam` takes. */
export interface GradCamOptions {
  /**
   * The tap whose feature map Grad-CAM weighs. Default: the last feature-map tap that feeds `head`
   * (`inception5b` for the main head, `inception4a` for `aux1`, `inception4d` for `aux2`).
   */
  layer?: string;
  /**
   * The class to explain: one index for every image, or one per image. Default: each image's top
   * class under `head`.
   */
  classIndex?: number | readonly number[];
  /** The head whose class score is explained: 'logits' (default), or 'aux1'/'aux2' in models built with `auxLogits`. */
  head?: string;
  /** Taps whose activations come back too, from the same pass (a module for its branch shares). Default none. */
  taps?: readonly string[];
  /** How channels are weighed: 'gradcam' (the spatial mean of the gradient, default) or 'gradcam++'. */
  method?: GradCamMethod;
}

export const GRADCAM_METHODS = ['gradcam', 'gradcam++'] as const;
export type GradCamMethod = (typeof GRADCAM_METHODS)[number];

/** What `GoogLeNet.gradCam` returns for a batch of N images. */
export interface GradCamResult extends GradCamTarget {
  /** N×h×w: ReLU(Σ_k α_k A^k) at the tap's own size, before any upsampling or normalization. */
  cam: Tensor;
  /** N×K: each channel's weight α_k (Grad-CAM: the spatial mean of ∂y_c/∂A^k). */
  alpha: Tensor;
  method: GradCamMethod;
  /** The class explained in each image. */
  classIndex: number[];
  /** Every head's logits by name (`logits`, and `aux1`/`aux2` with `auxLogits`), N×classes, from the same pass. */
  heads: Record<string, Tensor>;
  /** The activations of `taps`, by tap. */
  activations: Record<string, Tensor>;
}

/**
 * The `class_mask` input of the Grad-CAM graph (N×classes): a one-hot row per image for a given
 * class, zeros for "the top class".
 * @throws OptionError naming `classIndex`: not an integer in [0, classes), or a list of another length than the batch.
 */
export function classMask(n: number, classes: number, head: string, classIndex: GradCamOptions['classIndex']): Float32Array {
  const mask = new Float32Array(n * classes);
  if (classIndex === undefined) return mask;
  const list = typeof classIndex === 'number' ? Array<number>(n).fill(classIndex) : classIndex;
  if (!Array.isArray(list))
    throw new OptionError(`classIndex: expected a class index or an array of them, received ${describeValue(classIndex)}`, { option: 'classIndex' });
  if (list.length !== n)
    throw new OptionError(`classIndex: expected one class per image (${n}), received ${describeValue(list)}`, { option: 'classIndex' });
  list.forEach((c: unknown, i) => {
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c >= classes)
      throw new OptionError(`classIndex: expected an integer in [0, ${classes - 1}] (head ${head} has ${classes} classes), received ${describeValue(c)}`, {
        option: 'classIndex',
      });
    mask[i * classes + c] = 1;
  });
  return mask;
}

/** The class each row of `mask` names, else the row's top class in `logits` (N×classes). */
export function maskClasses(mask: Float32Array, logits: Tensor): number[] {
  const [n, k] = logits.dims as [number, number];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let best = -1;
    for (let c = 0; c < k; c++) if (mask[i * k + c] === 1) best = c;
    if (best < 0) {
      best = 0;
      for (let c = 1; c < k; c++) if (logits.data[i * k + c]! > logits.data[i * k + best]!) best = c;
    }
    out.push(best);
  }
  return out;
}

/** What Grad-CAM explains: a tap's feature map and a head's class scores. */
export interface GradCamTarget {
  /** The tap (`inception5b`, `inception4c`, …). */
  layer: string;
  /** The head whose class score is differentiated (`logits`, `aux1`, `aux2`). */
  head: string;
}

/** One branch of a module whose output concatenates parallel branches (an Inception module's four). */
export interface BranchSpec {
  /** The branch's name in the graph (`branch1` … `branch4` in GoogLeNet, torchvision's module names). */
  name: string;
  /** Its operations in graph order, e.g. `1×1 conv → 3×3 conv` or `3×3 max pool → 1×1 conv`. */
  ops: string;
  /** Its first channel in the module's output, and how many it has. */
  offset: number;
  channels: number;
}

/** Values that depend on `from` (itself included), in one pass over the topologically ordered nodes. */
function dependents(g: Graph, from: string): Set<string> {
  const seen = new Set([from]);
  for (const n of g.nodes) if (nodeInputs(n).some((v) => seen.has(v))) for (const v of nodeOutputs(n)) seen.add(v);
  return seen;
}

/** The taps that are feature maps (C×H×W), in graph order. */
export function featureTaps(g: Graph): string[] {
  const order = new Map(g.nodes.flatMap((n, i) => nodeOutputs(n).map((v) => [v, i] as const)));
  return Object.keys(g.taps)
    .filter((t) => g.shapes.get(g.taps[t]!)?.length === 3)
    .sort((a, b) => (order.get(g.taps[a]!) ?? -1) - (order.get(g.taps[b]!) ?? -1));
}

/** The feature-map taps whose values the head's output depends on, in graph order. */
function tapsFeeding(g: Graph, headValue: string): string[] {
  return featureTaps(g).filter((t) => dependents(g, g.taps[t]!).has(headValue));
}

/**
 * Checks a Grad-CAM request against a graph and fills its defaults: the head `logits`, and the last
 * feature-map tap that feeds the head (`inception5b` for the main head, `inception4a` for `aux1`).
 * @throws OptionError naming `head` or `layer`: an unknown head, an unknown tap, a tap that is not
 *   a feature map (`pool5`), or a tap the head does not depend on.
 */
export function resolveGradCamTarget(g: Graph, o: { layer?: string | undefined; head?: string | undefined }): GradCamTarget {
  const head = o.head ?? 'logits';
  const headValue = g.outputs[head];
  if (typeof head !== 'string' || headValue === undefined) {
    const heads = Object.keys(g.outputs).join(', ');
    const hint = /^aux[12]$/.test(String(head)) ? ' (auxiliary heads exist in models built with auxLogits)' : '';
    throw new OptionError(`head: unknown head ${JSON.stringify(head)}; this model's heads: ${heads}${hint}`, { option: 'head' });
  }
  const feeding = tapsFeeding(g, headValue);
  if (o.layer === undefined) {
    const last = feeding.at(-1);
    if (!last) throw new OptionError(`layer: no feature-map tap feeds head ${head}`, { option: 'layer' });
    return { layer: last, head };
  }
  const layer = o.layer;
  const choices = `Grad-CAM of head ${head} takes one of: ${feeding.join(', ')}`;
  if (typeof layer !== 'string' || g.taps[layer] === undefined)
    throw new OptionError(`layer: unknown tap ${JSON.stringify(layer)}; ${choices}`, { option: 'layer' });
  const shape = g.shapes.get(g.taps[layer]!)!;
  if (shape.length !== 3)
    throw new OptionError(`layer: ${layer} is not a feature map (its shape is [${shape.join('×')}], not C×H×W); ${choices}`, {
      option: 'layer',
    });
  if (!feeding.includes(layer))
    throw new OptionError(`layer: ${layer} does not feed head ${head} (it comes after it or beside it); ${choices}`, { option: 'layer' });
  return { layer, head };
}

/** The taps whose value is a concatenation of parallel branches (GoogLeNet's nine Inception modules). */
export function branchModules(g: Graph): string[] {
  const producer = new Map(g.nodes.map((n) => [n.id, n]));
  return featureTaps(g).filter((t) => producer.get(g.taps[t]!)?.op === 'concat');
}

/** A short description of a branch's operations (convolutions and pools; batch norms and ReLUs left out). */
function describeOps(nodes: OpNode[]): string {
  const parts: string[] = [];
  for (const n of nodes) {
    if (n.op === 'conv') parts.push(`${n.kernel[0]}×${n.kernel[1]} conv`);
    else if (n.op === 'maxpool' || n.op === 'avgpool') parts.push(`${n.kernel[0]}×${n.kernel[1]} ${n.op === 'maxpool' ? 'max' : 'avg'} pool`);
  }
  return parts.length ? parts.join(' → ') : 'identity';
}

/**
 * The branches of `module`, a tap whose value concatenates parallel branches on channels: each
 * input of the concatenation, named by the first part of its scope inside the module's.
 * @throws OptionError naming `branches` for an unknown tap or a tap that is not such a module.
 */
export function moduleBranches(g: Graph, module: string): BranchSpec[] {
  const producer = new Map<string, OpNode>();
  for (const n of g.nodes) for (const v of nodeOutputs(n)) producer.set(v, n);
  const modules = branchModules(g);
  const value = typeof module === 'string' ? g.taps[module] : undefined;
  if (value === undefined)
    throw new OptionError(`branches: unknown tap ${JSON.stringify(module)}; modules with branches: ${modules.join(', ')}`, {
      option: 'branches',
    });
  const cat = producer.get(value);
  if (cat?.op !== 'concat')
    throw new OptionError(
      `branches: ${module} is not a module of parallel branches (its output is not a concatenation); modules with branches: ${modules.join(', ')}`,
      { option: 'branches' },
    );
  const prefix = `${(cat as ConcatNode).scope}.`;
  let offset = 0;
  return (cat as ConcatNode).inputs.map((v, i) => {
    // The branch: the nodes inside the module that its value is computed from.
    const nodes = new Set<OpNode>();
    const stack = [v];
    while (stack.length) {
      const n = producer.get(stack.pop()!);
      if (!n || nodes.has(n) || !n.scope.startsWith(prefix)) continue;
      nodes.add(n);
      stack.push(...nodeInputs(n));
    }
    const scope = producer.get(v)?.scope ?? '';
    const name = scope.startsWith(prefix) ? scope.slice(prefix.length).split('.')[0]! : `branch${i + 1}`;
    const channels = g.shapes.get(v)![0]!;
    const spec = { name, ops: describeOps(g.nodes.filter((n) => nodes.has(n))), offset, channels };
    offset += channels;
    return spec;
  });
}

/** Checks `method` (see {@link GradCamOptions}); returns it or the default. */
export function resolveGradCamMethod(method: unknown): GradCamMethod {
  if (method === undefined) return 'gradcam';
  if (!(GRADCAM_METHODS as readonly unknown[]).includes(method))
    throw new OptionError(`method: expected one of ${GRADCAM_METHODS.join(', ')}, received ${describeValue(method)}`, { option: 'method' });
  return method as GradCamMethod;
}

export interface GradCamGraphOptions extends GradCamTarget {
  /** How channels are weighed. Default 'gradcam'. */
  method?: GradCamMethod;
  /** Taps whose activations are outputs too (`activation.<tap>`), e.g. a module for its branch shares. Default none. */
  taps?: readonly string[];
  /** How operations are lowered (WebGPU needs max-pool gradients from masks). Default: every default. */
  lowering?: LoweringOptions;
}

/** The ONNX graph of {@link buildGradCamGraph}, and the weights it holds as constants. */
export interface GradCamGraph {
  bytes: Uint8Array;
  baked: string[];
}

function asTensor(dims: readonly number[], data: Float32Array | BigInt64Array): OnnxTensor {
  return { dims, dtype: data instanceof BigInt64Array ? 'int64' : 'float32', data };
}

/** The channel weights α (N×K×1×1) from the gradient `g` and the feature map `a` (N×K×h×w). */
function channelWeights(b: OnnxGraphBuilder, g: string, a: string, method: GradCamMethod): string {
  const emit = (op: string, ins: string[], hint: string, attrs?: Parameters<OnnxGraphBuilder['node']>[3]): string => {
    const out = b.fresh(hint);
    b.node(op, ins, [out], attrs);
    return out;
  };
  const hw = b.constInts('axes_hw', [2, 3]);
  if (method === 'gradcam') return emit('ReduceMean', [g, hw], 'alpha', { keepdims: 1 });
  // Grad-CAM++: a = g²/(2g² + ΣA·g³), 0 where the denominator is (g = 0); α = Σ_ij a·ReLU(g).
  const g2 = emit('Mul', [g, g], 'g2');
  const g3 = emit('Mul', [g2, g], 'g3');
  const sumA = emit('ReduceSum', [a, hw], 'sum_a', { keepdims: 1 });
  const denom = emit('Add', [emit('Add', [g2, g2], 'two_g2'), emit('Mul', [sumA, g3], 'sum_a_g3')], 'denom');
  const zero = emit('Equal', [denom, b.constFloats('zero', [], [0])], 'denom_zero');
  const safe = emit('Where', [zero, b.constFloats('one', [], [1]), denom], 'denom_safe');
  const aij = emit('Div', [g2, safe], 'a_ij');
  return emit('ReduceSum', [emit('Mul', [aij, emit('Relu', [g], 'g_pos')], 'weighted_pos'), hw], 'alpha', { keepdims: 1 });
}

/**
 * The Grad-CAM graph of a resolved target (see {@link resolveGradCamTarget}), weights as constants.
 *
 *   in:  input N×C×H×W, class_mask N×K (a one-hot row per image, or zeros for its top class)
 *   out: cam N×h×w, alpha N×k, head.<name> N×K for every head of the graph, activation.<tap> per `taps`
 */
export function buildGradCamGraph(g: Graph, weights: Weights, o: GradCamGraphOptions): GradCamGraph {
  const tapValue = g.taps[o.layer];
  const headValue = g.outputs[o.head];
  if (tapValue === undefined || headValue === undefined) throw new InternalError(`Grad-CAM: unresolved target ${o.layer} → ${o.head}`);
  const extra = Object.fromEntries((o.taps ?? []).map((t) => [`activation.${t}`, g.taps[t]!]));
  const pruned = pruneGraph(g, { ...g.outputs, layer: tapValue, ...extra });
  const b = new OnnxGraphBuilder('googlenet_gradcam');
  b.input({ name: g.input.name, dtype: 'float32', dims: ['N', ...g.input.shape] });
  const classes = g.shapes.get(headValue)![0]!;
  b.input({ name: 'class_mask', dtype: 'float32', dims: ['N', classes] });
  const param = (name: string): string => {
    if (!b.initializers.has(name)) {
      const spec = pruned.params.get(name);
      const data = weights.get(name);
      if (!spec || !data) throw new InternalError(`Grad-CAM: no value for parameter ${name}`);
      b.initializer(name, asTensor(spec.shape, data));
    }
    return name;
  };
  // Only the nodes after the tap are differentiated: the rest is lowered as inference is.
  const fwd = lowerForward({ b, graph: pruned, param, mode: 'eval', gradFrom: [tapValue], ...(o.lowering ? { lowering: o.lowering } : {}) });
  const emit = (op: string, ins: string[], hint: string, attrs?: Parameters<OnnxGraphBuilder['node']>[3]): string => {
    const out = b.fresh(hint);
    b.node(op, ins, [out], attrs);
    return out;
  };

  // The seed ∂y_c/∂logits: the given one-hot row, or where that row is all zeros the top class's.
  const axis1 = b.constInts('axis1', [1]);
  const max = emit('ReduceMax', [headValue, axis1], 'head_max', { keepdims: 1 });
  const top = emit('Cast', [emit('Equal', [headValue, max], 'is_top')], 'top_onehot', { to: 1 });
  const given = emit('Greater', [emit('ReduceSum', ['class_mask', axis1], 'mask_sum', { keepdims: 1 }), b.constFloats('zero', [], [0])], 'given');
  const seed = emit('Where', [given, 'class_mask', top], 'seed');
  const grads = backward(fwd, { seeds: { [headValue]: seed }, values: [tapValue], wrt: () => false });
  const dA = grads.values.get(tapValue);
  if (!dA) throw new InternalError(`Grad-CAM: head ${o.head} does not depend on ${o.layer}`);

  // N×K×h×w → α N×K×1×1 → Σ_k α_k A^k N×h×w → ReLU
  const alpha = channelWeights(b, dA, tapValue, o.method ?? 'gradcam');
  const weighted = emit('Mul', [alpha, tapValue], 'weighted');
  const cam = emit('Relu', [emit('ReduceSum', [weighted, axis1], 'cam_sum', { keepdims: 0 })], 'cam');
  const [k, h, w] = g.shapes.get(tapValue)!;
  const out = (name: string, value: string, dims: (number | string)[]): void => {
    b.node('Identity', [value], [name]);
    b.output({ name, dtype: 'float32', dims });
  };
  out('cam', cam, ['N', h!, w!]);
  out('alpha', emit('Flatten', [alpha], 'alpha_flat', { axis: 1 }), ['N', k!]);
  for (const [name, v] of Object.entries(g.outputs)) out(`head.${name}`, v, ['N', ...g.shapes.get(v)!]);
  for (const [name, v] of Object.entries(extra)) out(name, v, ['N', ...g.shapes.get(v)!]);
  return { bytes: b.encode(), baked: [...pruned.params.keys()] };
}
