/**
 * The fusion pass: which convolutions it fuses, where the fused node goes, and what stays as it was.
 * (That fused graphs have the same gradients is checked in autodiff.test.ts.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OptionError } from '../errors.js';
import * as L from '../layers/index.js';
import { GraphBuilder } from './builder.js';
import { fuseSiblingConvs } from './fuse.js';
import { nodeOutputs, pruneGraph } from './ir.js';

function inceptionGraph(): ReturnType<GraphBuilder['build']> {
  const gb = new GraphBuilder();
  const x = gb.input('x', [6, 5, 5]);
  gb.output('y', L.inception(L.relu(x, 'r'), { name: 'i', ch1x1: 3, ch3x3red: 2, ch3x3: 4, ch5x5red: 2, ch5x5: 3, poolProj: 2 }));
  return gb.build();
}

describe('fuseSiblingConvs', () => {
  it("replaces an Inception module's three input 1×1 convolutions by one node where the first was", () => {
    const g = inceptionGraph();
    const { graph, groups } = fuseSiblingConvs(g);
    const at = g.nodes.findIndex((n) => n.id === 'i.branch1.conv');
    const fused = graph.nodes[at]!;
    assert.equal(fused.op, 'siblingconv');
    if (fused.op !== 'siblingconv') return;
    assert.deepEqual(
      fused.members.map((m) => m.id),
      ['i.branch1.conv', 'i.branch2.0.conv', 'i.branch3.0.conv'],
    );
    assert.equal(fused.input, 'r');
    assert.deepEqual(graph.shapes.get(fused.id), [3 + 2 + 2, 5, 5]);
    assert.deepEqual(nodeOutputs(fused), ['i.branch1.conv', 'i.branch2.0.conv', 'i.branch3.0.conv']);
    assert.deepEqual([...groups.keys()], ['i.branch1.conv', 'i.branch2.0.conv', 'i.branch3.0.conv']);
    // The 3×3 convolutions and the pool branch's 1×1 (it reads the pool, not the input) stay.
    assert.equal(graph.nodes.length, g.nodes.length - 2);
    for (const id of ['i.branch2.1.conv', 'i.branch3.1.conv', 'i.branch4.1.conv'])
      assert.equal(graph.nodes.find((n) => n.id === id)?.op, 'conv');
    assert.equal(graph.params, g.params);
    assert.deepEqual(graph.outputs, g.outputs);
  });

  it('leaves a graph without siblings as it was', () => {
    const gb = new GraphBuilder();
    const x = gb.input('x', [3, 4, 4]);
    gb.output('y', L.conv2d(L.conv2d(x, 'a', { out: 2, kernel: 1 }), 'b', { out: 2, kernel: 1 }));
    const g = gb.build();
    const { graph, groups } = fuseSiblingConvs(g);
    assert.deepEqual(graph.nodes, g.nodes);
    assert.equal(groups.size, 0);
  });

  it('keeps a fused node when pruning for any of its members', () => {
    const { graph } = fuseSiblingConvs(inceptionGraph());
    const pruned = pruneGraph(graph, { b2: 'i.branch2.0.conv' });
    assert.deepEqual(
      pruned.nodes.map((n) => n.op),
      ['relu', 'siblingconv'],
    );
  });

  it('is the only maker of siblingconv nodes: builders reject them', () => {
    const gb = new GraphBuilder();
    const x = gb.input('x', [3, 4, 4]);
    assert.throws(
      () => gb.add('s', { op: 'siblingconv', input: x.id, members: [] }),
      (e: unknown) => e instanceof OptionError && /made by the fusion pass/.test(e.message),
    );
  });
});
