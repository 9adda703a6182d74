/**
 * Reverse-mode differentiation of a graph into ONNX.
 *
 * `lowerForward` lowers a graph in train mode for differentiation (every op's `lower` with
 * `forGrad`), keeping what each op's gradient needs; `backward` walks the nodes in reverse
 * topological order and calls each op's `backward` (in `ops.ts`, beside its lowering), emitting
 * the gradient nodes into the same `OnnxGraphBuilder`. A value read by several nodes (the input
 * of an Inception module feeds four branches and an auxiliary head) gets the sum of their
 * gradients. Nodes that lead to no wanted gradient (frozen layers, the stem's input gradient)
 * emit nothing.
 */
import { InternalError } from '../errors.js';
import type { ConvNode, Graph, OpNode, ParamSpec } from './ir.js';
import { isTrainable, nodeInputs, nodeParams } from './ir.js';
import type { OnnxGraphBuilder, ValueInfo } from './onnx.js';
import { OPS, type FloatType, type LowerCtx, type LoweringOptions, type OpDef, type Saved } from './ops/index.js';

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
}

export interface BackwardResult {
  /** ONNX value of each wanted parameter's gradient, by parameter name (PyTorch layout). */
  params: Map<string, string>;
  /** ONNX value of the input's gradient, with `inputGrad`. */
  input?: string;
}

/** How a training graph's forward reads parameters and emits side outputs. */
export interface ForwardCtxOptions {
  b: OnnxGraphBuilder;
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
   * Lower sibling 1×1 convolutions (same input, stride 1, no padding: an Inception module's
   * branch1, branch2.0 and branch3.0) as one convolution whose output is split, so the input is
   * read once forward and its gradient is one product backward. Default true.
   */
  fuseSiblings?: boolean;
}

/** Sibling 1×1 convolutions lowered as one (see `ForwardCtxOptions.fuseSiblings`). */
export interface ConvGroup {
  /** In graph order; the first is the leader, where the group is lowered and differentiated. */
  members: ConvNode[];
  /** The fused convolution: weight and bias are the members' concatenated along output channels. */
  node: ConvNode;
  /** The wrapped context that resolves the fused weight and bias and the fused value's shape. */
  ctx: LowerCtx;
}

const FUSED_WEIGHT = '<fused weight>';
const FUSED_BIAS = '<fused bias>';

/** Groups of sibling 1×1 convolutions, by member id. */
function siblingGroups(g: Graph): Map<string, ConvNode[]> {
  const byInput = new Map<string, ConvNode[]>();
  for (const n of g.nodes) {
    if (n.op !== 'conv' || n.kernel[0] !== 1 || n.kernel[1] !== 1 || n.stride[0] !== 1 || n.stride[1] !== 1 || n.pads.some((p) => p !== 0)) continue;
    const key = `${n.input}|${n.bias ? 'b' : ''}`;
    byInput.set(key, [...(byInput.get(key) ?? []), n]);
  }
  const out = new Map<string, ConvNode[]>();
  for (const members of byInput.values()) if (members.length > 1) for (const m of members) out.set(m.id, members);
  return out;
}

export interface Forward {
  ctx: LowerCtx;
  /** What each node's lowering kept for its gradient, by node id. */
  saved: Map<string, Saved>;
  /** Batch-norm running-statistics outputs (`running_mean.<bn>`, `running_var.<bn>`), in graph order. */
  side: ValueInfo[];
  /** ONNX value of each side output, by key. */
  sideValues: Map<string, string>;
  /** Fused sibling convolutions, by member id. */
  groups: Map<string, ConvGroup>;
}

/** Lowers every node of `o.graph` in train mode for differentiation. */
export function lowerForward(o: ForwardCtxOptions): Forward {
  const side: ValueInfo[] = [];
  const sideValues = new Map<string, string>();
  const g = o.graph;
  const ctx: LowerCtx = {
    mode: 'train',
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
  const groups = new Map<string, ConvGroup>();
  const siblings = o.fuseSiblings === false ? new Map<string, ConvNode[]>() : siblingGroups(g);
  for (const n of g.nodes) {
    const members = siblings.get(n.id);
    if (!members) {
      saved.set(n.id, (OPS[n.op] as OpDef<OpNode>).lower(n, ctx) ?? {});
      continue;
    }
    if (members[0] !== n) continue; // lowered with its leader
    // N×Cin×H×W → N×(ΣCout)×H×W, split back into the members' values.
    const b = o.b;
    const cat = (names: string[], hint: string): string => {
      const v = b.fresh(hint);
      b.node('Concat', names.map((p) => ctx.param(p)), [v], { axis: 0 });
      return v;
    };
    const fusedW = cat(members.map((m) => m.weight), `${n.id}.fused_weight`);
    const fusedB = n.bias ? cat(members.map((m) => m.bias!), `${n.id}.fused_bias`) : undefined;
    const sizes = members.map((m) => m.outChannels);
    const total = sizes.reduce((a, c) => a + c, 0);
    const node: ConvNode = { ...n, id: b.fresh(`${n.id}.fused`), weight: FUSED_WEIGHT, ...(fusedB ? { bias: FUSED_BIAS } : {}), outChannels: total };
    const [, h, w] = ctx.shape(n.id);
    const gctx: LowerCtx = {
      ...ctx,
      shape: (v) => (v === node.id ? [total, h!, w!] : ctx.shape(v)),
      param: (p) => (p === FUSED_WEIGHT ? fusedW : p === FUSED_BIAS && fusedB ? fusedB : ctx.param(p)),
    };
    saved.set(node.id, OPS.conv.lower(node, gctx) ?? {});
    b.node('Split', [node.id, b.constInts('split', sizes)], members.map((m) => m.id), { axis: 1 });
    const group: ConvGroup = { members, node, ctx: gctx };
    for (const m of members) groups.set(m.id, group);
  }
  return { ctx, saved, side, sideValues, groups };
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

/** Emits the gradient nodes of `g` (lowered by `lowerForward`) for the seeds in `o`. */
export function backward(g: Graph, fwd: Forward, o: BackwardOptions): BackwardResult {
  const { b } = fwd.ctx;
  const wrt = o.wrt ?? (() => true);
  const wanted = (name: string): boolean => {
    const p = g.params.get(name);
    return p !== undefined && isTrainable(p) && wrt(p);
  };

  // Which values depend on something we differentiate with respect to.
  const requires = new Set<string>();
  if (o.inputGrad) requires.add(g.input.name);
  for (const n of g.nodes) {
    if (nodeInputs(n).some((v) => requires.has(v)) || nodeParams(n).some(wanted)) requires.add(n.id);
  }

  const pending = new Map<string, string[]>();
  const add = (value: string, grad: string): void => {
    const list = pending.get(value);
    if (list) list.push(grad);
    else pending.set(value, [grad]);
  };
  for (const [value, grad] of Object.entries(o.seeds)) {
    if (!g.shapes.has(value)) throw new InternalError(`autodiff: seed for unknown value "${value}"`);
    add(value, grad);
  }
  /** The total gradient of a value: its contributions summed (fan-out). */
  const total = (value: string): string | undefined => {
    const list = pending.get(value);
    if (!list || list.length === 0) return undefined;
    pending.delete(value);
    return addAll(b, list, `${value}.grad_sum`);
  };

  const params = new Map<string, string[]>();
  const addParam = (p: string, gv: string): void => {
    if (!wanted(p)) return;
    const list = params.get(p);
    if (list) list.push(gv);
    else params.set(p, [gv]);
  };
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (!requires.has(n.id)) continue;
    const group = fwd.groups.get(n.id);
    if (group) {
      // Every member's consumers come after it, so at the leader all members' gradients are in.
      if (group.members[0] !== n) continue;
      const dys = group.members.map((m) => total(m.id));
      if (dys.every((d) => d === undefined)) continue;
      // A member that does not reach the loss contributes a zero gradient.
      const zero = fwd.ctx.dtype === 'float64' ? { dims: [1], dtype: 'float64' as const, data: new Float64Array(1) } : { dims: [1], dtype: 'float32' as const, data: new Float32Array(1) };
      const filled = group.members.map((m, k) => {
        const d = dys[k];
        if (d) return d;
        const shape = b.fresh(`${m.id}.shape`);
        b.node('Shape', [m.id], [shape]);
        const z = b.fresh(`${m.id}.zero_grad`);
        b.node('ConstantOfShape', [shape], [z], { value: { tensor: zero } });
        return z;
      });
      const dy = b.fresh(`${n.id}.fused_dy`);
      b.node('Concat', filled, [dy], { axis: 1 });
      const fused = group.node;
      const grads = OPS.conv.backward(fused, group.ctx, {
        dy,
        saved: fwd.saved.get(fused.id) ?? {},
        needInput: [requires.has(n.input)],
        needParam: (p) => group.members.some((m) => (p === FUSED_WEIGHT ? wanted(m.weight) : p === FUSED_BIAS && m.bias ? wanted(m.bias) : false)),
      });
      if (grads.inputs[0]) add(n.input, grads.inputs[0]);
      for (const [key, pick] of [
        [FUSED_WEIGHT, (m: ConvNode) => m.weight],
        [FUSED_BIAS, (m: ConvNode) => m.bias],
      ] as const) {
        const gv = grads.params[key];
        if (!gv) continue;
        const parts = group.members.map((m) => b.fresh(`${pick(m)}.grad`));
        b.node('Split', [gv, b.constInts('split', group.members.map((m) => m.outChannels))], parts, { axis: 0 });
        group.members.forEach((m, k) => addParam(pick(m)!, parts[k]!));
      }
      continue;
    }
    const dy = total(n.id);
    if (!dy) continue; // does not reach the loss
    const ins = nodeInputs(n);
    const grads = (OPS[n.op] as OpDef<OpNode>).backward(n, fwd.ctx, {
      dy,
      saved: fwd.saved.get(n.id) ?? {},
      needInput: ins.map((v) => requires.has(v)),
      needParam: wanted,
    });
    ins.forEach((v, k) => {
      const gv = grads.inputs[k];
      if (gv && requires.has(v)) add(v, gv);
    });
    for (const [p, gv] of Object.entries(grads.params)) addParam(p, gv);
  }

  const result: BackwardResult = { params: new Map() };
  for (const [p, list] of params) {
    result.params.set(p, addAll(b, list, `${p}.grad_sum`));
  }
  if (o.inputGrad) {
    const gi = total(g.input.name);
    if (gi) result.input = gi;
  }
  return result;
}
