/**
 * Fusion of sibling 1×1 convolutions: a rewrite of a graph, applied before it is lowered for
 * training and differentiated.
 *
 * An Inception module reads its input with three 1×1 convolutions (branch1, branch2.0 and
 * branch3.0). Computed as one convolution whose output channels are then split, the input is read
 * once forward, and backward the input's gradient is one matrix product instead of three that
 * are then summed. The rewritten graph computes the same values: each member keeps its value's
 * id and its parameters' names, so nothing that reads them changes.
 */
import { InternalError } from '../errors.js';
import type { ConvNode, Graph, OpNode, SiblingConvNode } from './ir.js';

export interface FusedGraph {
  /** The graph with each group of siblings replaced by one `siblingconv` node. */
  graph: Graph;
  /** The fused node of every member convolution, by the member's id. */
  groups: Map<string, SiblingConvNode>;
}

/** 1×1, stride 1, no padding: a convolution whose siblings can share its input read. */
const fusable = (n: OpNode): n is ConvNode =>
  n.op === 'conv' && n.kernel[0] === 1 && n.kernel[1] === 1 && n.stride[0] === 1 && n.stride[1] === 1 && n.pads.every((p) => p === 0);

/** Groups of two or more fusable convolutions that read the same value (and all have a bias, or none has). */
function siblingGroups(g: Graph): ConvNode[][] {
  const byInput = new Map<string, ConvNode[]>();
  for (const n of g.nodes) {
    if (!fusable(n)) continue;
    const key = `${n.input}|${n.bias ? 'b' : ''}`;
    byInput.set(key, [...(byInput.get(key) ?? []), n]);
  }
  return [...byInput.values()].filter((members) => members.length > 1);
}

/** A node id not yet used in the graph, derived from `hint`. */
function freshId(g: Graph, hint: string): string {
  let id = hint;
  for (let k = 1; g.shapes.has(id); k++) id = `${hint}.${k}`;
  return id;
}

/**
 * Replaces each group of sibling 1×1 convolutions by one `siblingconv` node at the position of
 * the group's first member (all members read a value computed before it, and everything that
 * reads a member comes after that member, so the order stays topological).
 */
export function fuseSiblingConvs(g: Graph): FusedGraph {
  const groups = new Map<string, SiblingConvNode>();
  const shapes = new Map(g.shapes);
  for (const members of siblingGroups(g)) {
    const leader = members[0]!;
    const [, h, w] = g.shapes.get(leader.id) ?? [];
    if (h === undefined || w === undefined) throw new InternalError(`fuse: no shape for ${leader.id}`);
    const node: SiblingConvNode = {
      op: 'siblingconv',
      id: freshId({ ...g, shapes }, `${leader.id}.fused`),
      scope: leader.scope,
      input: leader.input,
      members,
    };
    shapes.set(node.id, [members.reduce((a, m) => a + m.outChannels, 0), h, w]);
    for (const m of members) groups.set(m.id, node);
  }
  const nodes: OpNode[] = [];
  for (const n of g.nodes) {
    const fused = groups.get(n.id);
    if (!fused) nodes.push(n);
    else if (fused.members[0] === n) nodes.push(fused);
  }
  return { graph: { ...g, nodes, shapes }, groups };
}
