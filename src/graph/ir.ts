/**
 * The typed graph of operations that every GoogLeNet variant is built into.
 *
 * A graph is a list of nodes in topological order. Every node produces one value, named by its
 * `id`; values carry a per-sample shape (the batch dimension is implicit and dynamic):
 * `[C, H, W]` for feature maps, `[F]` for vectors. Parameters are named with torchvision's
 * state-dict names (`inception3a.branch2.1.conv.weight`) and stored in PyTorch's layouts.
 *
 * The same graph is lowered to an inference ONNX graph (batch norm folded, weights constant),
 * to a train-mode forward graph, and differentiated into a training graph.
 */

/** Per-sample shape: `[C, H, W]` or `[F]`. */
export type Shape = readonly number[];
type Pair = readonly [number, number];
/** Padding `[top, left, bottom, right]`. */
export type Pads = readonly [number, number, number, number];

export type ParamRole =
  | 'conv.weight'
  | 'conv.bias'
  | 'bn.weight'
  | 'bn.bias'
  | 'bn.running_mean'
  | 'bn.running_var'
  | 'bn.num_batches_tracked'
  | 'linear.weight'
  | 'linear.bias';

export interface ParamSpec {
  /** torchvision state-dict key. */
  name: string;
  /** PyTorch layout: conv OIHW, linear [out, in], batch norm [C], counter []. */
  shape: readonly number[];
  role: ParamRole;
}

/** True for parameters that an optimizer updates (not batch-norm statistics). */
export function isTrainable(p: ParamSpec): boolean {
  return !p.role.startsWith('bn.running') && p.role !== 'bn.num_batches_tracked';
}

interface Base {
  /** The value this node produces (unique in the graph). */
  id: string;
  /** Dotted module path for summaries, e.g. `inception3a.branch2.1`. */
  scope: string;
}

export interface ConvNode extends Base {
  op: 'conv';
  input: string;
  weight: string;
  bias?: string;
  outChannels: number;
  kernel: Pair;
  stride: Pair;
  pads: Pads;
}
export interface BatchNormNode extends Base {
  op: 'batchnorm';
  input: string;
  weight: string;
  bias: string;
  runningMean: string;
  runningVar: string;
  /** PyTorch's `num_batches_tracked` counter (int64 scalar). */
  numBatches: string;
  eps: number;
  /** PyTorch convention: new = (1 − momentum)·old + momentum·batch. */
  momentum: number;
}
export interface ReluNode extends Base {
  op: 'relu';
  input: string;
}
export interface LrnNode extends Base {
  op: 'lrn';
  input: string;
  size: number;
  alpha: number;
  beta: number;
  k: number;
}
interface PoolBase extends Base {
  input: string;
  kernel: Pair;
  stride: Pair;
  pads: Pads;
  ceil: boolean;
}
export interface MaxPoolNode extends PoolBase {
  op: 'maxpool';
}
export interface AvgPoolNode extends PoolBase {
  op: 'avgpool';
  /** Whether padded zeros count in the mean (PyTorch's default is true). */
  countIncludePad: boolean;
}
export type PoolNode = MaxPoolNode | AvgPoolNode;
export interface AdaptiveAvgPoolNode extends Base {
  op: 'adaptiveavgpool';
  input: string;
  output: Pair;
}
export interface ConcatNode extends Base {
  op: 'concat';
  inputs: string[];
}
export interface FlattenNode extends Base {
  op: 'flatten';
  input: string;
}
export interface LinearNode extends Base {
  op: 'linear';
  input: string;
  weight: string;
  bias?: string;
  outFeatures: number;
}
export interface DropoutNode extends Base {
  op: 'dropout';
  input: string;
  p: number;
}
/**
 * Sibling 1×1 convolutions of one input computed as one convolution whose output channels are
 * then split (an Inception module's branch1, branch2.0 and branch3.0). Model builders never make
 * this node: the fusion pass (`fuse.ts`) puts it in place of its members before training graphs
 * are lowered. Its `id` names the concatenated value (`[ΣCout, H, W]`); each member's `id` names
 * that member's part, so the nodes that read the members are unchanged.
 */
export interface SiblingConvNode extends Base {
  op: 'siblingconv';
  input: string;
  /** The fused 1×1 convolutions, in graph order; their parameters keep their names. */
  members: ConvNode[];
}
/** Per-channel `x·scale + shift` (torchvision's `transform_input`). */
export interface AffineNode extends Base {
  op: 'affine';
  input: string;
  scale: number[];
  shift: number[];
}

export type OpNode =
  | ConvNode
  | BatchNormNode
  | ReluNode
  | LrnNode
  | MaxPoolNode
  | AvgPoolNode
  | AdaptiveAvgPoolNode
  | ConcatNode
  | FlattenNode
  | LinearNode
  | DropoutNode
  | AffineNode
  | SiblingConvNode;
export type OpKind = OpNode['op'];

export interface Graph {
  input: { name: string; shape: Shape };
  nodes: OpNode[];
  shapes: Map<string, Shape>;
  params: Map<string, ParamSpec>;
  /** Named outputs, e.g. `logits`, `aux1`, `aux2`, or a tap's name. */
  outputs: Record<string, string>;
  /** Named intermediate values that can be requested as outputs (`inception4a`, `pool5`, …). */
  taps: Record<string, string>;
}

/** The inputs a node reads (values, not parameters). */
export function nodeInputs(n: OpNode): string[] {
  return n.op === 'concat' ? n.inputs : [n.input];
}

/** The values a node produces: its `id`, or for fused sibling convolutions each member's value. */
export function nodeOutputs(n: OpNode): string[] {
  return n.op === 'siblingconv' ? n.members.map((m) => m.id) : [n.id];
}

/** The parameters a node reads. */
export function nodeParams(n: OpNode): string[] {
  switch (n.op) {
    case 'conv':
    case 'linear':
      return n.bias ? [n.weight, n.bias] : [n.weight];
    case 'batchnorm':
      return [n.weight, n.bias, n.runningMean, n.runningVar, n.numBatches];
    case 'siblingconv':
      return n.members.flatMap(nodeParams);
    default:
      return [];
  }
}

/** The parameters each value of a node depends on, in `nodeOutputs` order. */
export function outputParams(n: OpNode): string[][] {
  return n.op === 'siblingconv' ? n.members.map(nodeParams) : [nodeParams(n)];
}

/** Keeps only the nodes needed to compute `outputs` (dead-branch elimination). */
export function pruneGraph(g: Graph, outputs: Record<string, string>): Graph {
  const needed = new Set(Object.values(outputs));
  const keep: OpNode[] = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (!nodeOutputs(n).some((v) => needed.has(v))) continue;
    keep.push(n);
    for (const v of nodeInputs(n)) needed.add(v);
  }
  keep.reverse();
  const params = new Map<string, ParamSpec>();
  for (const n of keep) for (const p of nodeParams(n)) params.set(p, g.params.get(p)!);
  return { ...g, nodes: keep, params, outputs };
}
