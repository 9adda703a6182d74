/**
 * Reverse-mode differentiation of a graph into ONNX.
 *
 * `lowerForward` lowers a graph in train mode for differentiation (every op's `lower` with
 * `forGrad`), keeping what each op's gradient needs. `backward` then walks the nodes in reverse
 * order and calls each op's `backward` (in `ops/`, beside its lowering), emitting the gradient
 * nodes into the same `OnnxGraphBuilder`. A value read by several nodes (the input of an
 * Inception module feeds four branches and an auxiliary head) gets the sum of their gradients.
 * Nodes that lead to no wanted gradient (frozen layers, the stem's input gradient) emit nothing.
 *
 * Training differentiates the train-mode graph (batch statistics, live dropout). Explaining a
 * prediction (Grad-CAM, `models/gradcam.ts`) differentiates the eval-mode graph (running
 * statistics, no dropout) with respect to an intermediate value, through the same walk.
 *
 * Rewrites such as the fusion of sibling convolutions (`fuse.ts`) happen before, on the graph;
 * this walk treats every node alike.
 */
import { InternalError } from '../errors.js';
import type { Graph, ParamSpec } from './ir.js';
import { isTrainable, nodeInputs, nodeOutputs, outputParams } from './ir.js';
import type { OnnxGraphBuilder, ValueInfo } from './onnx.js';
import { opOf, type FloatType, type LowerCtx, type LoweringOptions, type Saved } from './ops/index.js';

/** Which gradients to form. */
export interface BackwardOptions {
  /**
   * Gradient seeds: graph value id → ONNX value holding ∂loss/∂value (same shape). Typically the
   * loss's gradients with respect to `logits`, `aux1`, `aux2`.
   */
  seeds: Record<string, string>;
  /** Whether a trainable parameter gets a gradient. Default: every trainable parameter. */
  wrt?: (param: ParamSpec) => boolean;
  /** Also form the gradient of the graph's input (finite-difference tests). Default false. */
  inputGrad?: boolean;
  /**
   * Also form the gradients of these graph values (an intermediate feature map for Grad-CAM). The
   * walk stops below them unless a parameter or the input wants more. Default none.
   */
  values?: readonly string[];
}

export interface BackwardResult {
  /** ONNX value of each wanted parameter's gradient, by parameter name (PyTorch layout). */
  params: Map<string, string>;
  /** ONNX value of the input's gradient, with `inputGrad`. */
  input?: string;
  /** ONNX value of each of `values`' gradients, by graph value; absent for a value the seeds do not depend on. */
  values: Map<string, string>;
}

/** How a training graph's forward reads parameters and emits side outputs. */
export interface ForwardCtxOptions {
  b: OnnxGraphBuilder;
  /**
   * 'train' (default): batch statistics and live dropout, what training differentiates. 'eval':
   * running statistics and no dropout, what inference computes (Grad-CAM differentiates it).
   */
  mode?: 'train' | 'eval';
  graph: Graph;
  /** ONNX value of a parameter (a slice of a flat input, a graph input, a constant). */
  param(name: string): string;
  /** Element type. Default 'float32'. */
  dtype?: FloatType;
  /** int64 scalar seeding dropout masks (see `LowerCtx.seed`). */
  seed?: string;
  /** How operations are lowered (convolution gradient methods, a float64 convolution). Default: every default. */
  lowering?: LoweringOptions;
  /**
   * Lower for differentiation (keeping what `backward` needs, e.g. max-pool indices) only the nodes
   * computed from these values; the others as inference does. For a gradient with respect to an
   * intermediate value (Grad-CAM), where nothing before it is differentiated. Default: every node.
   */
  gradFrom?: readonly string[];
}

export interface Forward {
  /** The graph that was lowered; `backward` differentiates the same one. */
  graph: Graph;
  ctx: LowerCtx;
  /** What each node's lowering kept for its gradient, by node id. */
  saved: Map<string, Saved>;
  /** Batch-norm running-statistics outputs (`running_mean.<bn>`, `running_var.<bn>`), in graph order. */
  side: ValueInfo[];
  /** ONNX value of each side output, by key. */
  sideValues: Map<string, string>;
}

/** Lowers every node of `o.graph` for differentiation, in train mode unless `o.mode` says 'eval'. */
export function lowerForward(o: ForwardCtxOptions): Forward {
  const side: ValueInfo[] = [];
  const sideValues = new Map<string, string>();
  const g = o.graph;
  const ctx: LowerCtx = {
    mode: o.mode ?? 'train',
    b: o.b,
    forGrad: true,
    ...(o.dtype ? { dtype: o.dtype } : {}),
    ...(o.seed ? { seed: o.seed } : {}),
    ...(o.lowering ? { options: o.lowering } : {}),
    shape: (v) => {
      const s = g.shapes.get(v);
      if (!s) throw new InternalError(`autodiff: no shape for value ${v}`);
      return s;
    },
    param: o.param,
    sideOutput: (key, value, dims) => {
      side.push({ name: key, dtype: o.dtype ?? 'float32', dims });
      sideValues.set(key, value);
    },
  };
  const saved = new Map<string, Saved>();
  const after = o.gradFrom ? new Set(o.gradFrom) : undefined;
  const plain: LowerCtx = { ...ctx, forGrad: false };
  for (const n of g.nodes) {
    const differentiated = !after || nodeInputs(n).some((v) => after.has(v));
    if (after && differentiated) for (const v of nodeOutputs(n)) after.add(v);
    saved.set(
      n.id,
      o.b.scoped(`fwd:${n.op}:${n.id}`, () => opOf(n).lower(n, differentiated ? ctx : plain) ?? {}),
    );
  }
  return { graph: g, ctx, saved, side, sideValues };
}

/** Sums gradient contributions pairwise (ONNX Runtime's variadic Sum is slower than a chain of Adds). */
function addAll(b: OnnxGraphBuilder, parts: string[], hint: string): string {
  let acc = parts[0]!;
  for (let i = 1; i < parts.length; i++) {
    const next = b.fresh(hint);
    b.node('Add', [acc, parts[i]!], [next]);
    acc = next;
  }
  return acc;
}

/** Gradient contributions by key (a value or a parameter), summed when asked for. */
class Contributions {
  private readonly parts = new Map<string, string[]>();
  add(key: string, grad: string): void {
    const list = this.parts.get(key);
    if (list) list.push(grad);
    else this.parts.set(key, [grad]);
  }
  /** The sum of a key's contributions (emitted once; the key is then forgotten), or undefined if none. */
  take(b: OnnxGraphBuilder, key: string): string | undefined {
    const list = this.parts.get(key);
    if (!list || list.length === 0) return undefined;
    this.parts.delete(key);
    return addAll(b, list, `${key}.grad_sum`);
  }
  keys(): string[] {
    return [...this.parts.keys()];
  }
}

/**
 * The values whose gradient is needed: those computed from the graph's input (with `inputGrad`),
 * from a wanted parameter, or from one of the wanted `values` (and those values themselves).
 */
function requiredValues(g: Graph, wanted: (name: string) => boolean, inputGrad: boolean, values: ReadonlySet<string>): Set<string> {
  const requires = new Set<string>();
  if (inputGrad || values.has(g.input.name)) requires.add(g.input.name);
  for (const n of g.nodes) {
    const fromInputs = nodeInputs(n).some((v) => requires.has(v));
    const params = outputParams(n);
    nodeOutputs(n).forEach((v, k) => {
      if (fromInputs || params[k]!.some(wanted) || values.has(v)) requires.add(v);
    });
  }
  return requires;
}

/** A zero gradient shaped like `value` (for an output of a node that does not reach the loss). */
function zerosLike(b: OnnxGraphBuilder, value: string, dtype: FloatType | undefined): string {
  const zero =
    dtype === 'float64'
      ? { dims: [1], dtype: 'float64' as const, data: new Float64Array(1) }
      : { dims: [1], dtype: 'float32' as const, data: new Float32Array(1) };
  const shape = b.fresh(`${value}.shape`);
  b.node('Shape', [value], [shape]);
  const z = b.fresh(`${value}.zero_grad`);
  b.node('ConstantOfShape', [shape], [z], { value: { tensor: zero } });
  return z;
}

/** Emits the gradient nodes of the graph that `fwd` lowered, for the seeds in `o`. */
export function backward(fwd: Forward, o: BackwardOptions): BackwardResult {
  const { graph: g, ctx } = fwd;
  const { b } = ctx;
  const wrt = o.wrt ?? (() => true);
  const wanted = (name: string): boolean => {
    const p = g.params.get(name);
    return p !== undefined && isTrainable(p) && wrt(p);
  };
  const wantedValues = new Set(o.values ?? []);
  for (const v of wantedValues) if (!g.shapes.has(v)) throw new InternalError(`autodiff: gradient asked for unknown value "${v}"`);
  const requires = requiredValues(g, wanted, o.inputGrad ?? false, wantedValues);
  const values = new Contributions();
  const result: BackwardResult = { params: new Map(), values: new Map() };
  for (const [value, grad] of Object.entries(o.seeds)) {
    if (!g.shapes.has(value)) throw new InternalError(`autodiff: seed for unknown value "${value}"`);
    values.add(value, grad);
  }
  const params = new Contributions();

  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    const outs = nodeOutputs(n);
    if (!outs.some((v) => requires.has(v))) continue;
    // Every reader of a value comes after it, so all of its contributions are in by now.
    const totals = b.scoped(`bwd:fanout:${n.id}`, () => outs.map((v) => values.take(b, v)));
    if (totals.every((d) => d === undefined)) continue; // does not reach the loss
    outs.forEach((v, k) => {
      if (wantedValues.has(v) && totals[k]) result.values.set(v, totals[k]);
    });
    const ins = nodeInputs(n);
    // A wanted value's producer: nothing further down needs a gradient unless an input or a parameter does.
    if (!ins.some((v) => requires.has(v)) && !outputParams(n).flat().some(wanted)) continue;
    const dys = totals.map((d, k) => d ?? zerosLike(b, outs[k]!, ctx.dtype));
    const grads = b.scoped(`bwd:${n.op}:${n.id}`, () =>
      opOf(n).backward(n, ctx, {
        dy: dys[0]!,
        dys,
        saved: fwd.saved.get(n.id) ?? {},
        needInput: ins.map((v) => requires.has(v)),
        needParam: wanted,
      }),
    );
    ins.forEach((v, k) => {
      const gv = grads.inputs[k];
      if (gv && requires.has(v)) values.add(v, gv);
    });
    for (const [p, gv] of Object.entries(grads.params)) if (wanted(p)) params.add(p, gv);
  }

  b.scoped('bwd:fanout:params', () => {
    for (const p of params.keys()) result.params.set(p, params.take(b, p)!);
  });
  const gi = o.inputGrad || wantedValues.has(g.input.name) ? values.take(b, g.input.name) : undefined;
  if (gi && o.inputGrad) result.input = gi;
  if (gi && wantedValues.has(g.input.name)) result.values.set(g.input.name, gi);
  return result;
}
