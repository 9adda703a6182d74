import assert from 'node:assert/strict';
import { test } from 'node:test';
import '../runtime/engine-node.js';
import { GoogLeNet } from '../models/model.js';
import { biasCorrectedBatchNorm } from './bn.js';

test('bias correction recovers constant batch statistics from running ones started at (0, 1), and fades out', () => {
  const m = new GoogLeNet({ preset: 'cifar', width: 0.0625, numClasses: 10, inChannels: 1, inputSize: 28 });
  const g = m.graph('train');
  const w = new Map(m.weights);
  const set = (t: number): void => {
    const keep = 0.9 ** t;
    for (const n of g.nodes) {
      if (n.op !== 'batchnorm') continue;
      const c = (w.get(n.runningMean) as Float32Array).length;
      w.set(n.runningMean, new Float32Array(c).fill((1 - keep) * 0.25)); // batch mean 0.25 every step
      w.set(n.runningVar, new Float32Array(c).fill(keep * 1 + (1 - keep) * 0.002)); // batch variance 0.002
      w.set(n.numBatches, BigInt64Array.of(BigInt(t)));
    }
  };
  set(30);
  const c = biasCorrectedBatchNorm(g, w);
  const v = c.get('conv1.bn.running_var') as Float32Array;
  const mean = c.get('conv1.bn.running_mean') as Float32Array;
  assert.ok(Math.abs(v[0]! - 0.002) < 1e-6, `variance ${v[0]}`);
  assert.ok(Math.abs(mean[0]! - 0.25) < 1e-6, `mean ${mean[0]}`);
  assert.notEqual(c.get('fc.weight'), undefined);
  assert.equal(c.get('fc.weight'), w.get('fc.weight'), 'other tensors are shared, not copied');
  set(400);
  assert.equal(biasCorrectedBatchNorm(g, w).get('conv1.bn.running_var'), w.get('conv1.bn.running_var'), 'a no-op after many steps');
  set(0);
  assert.equal(biasCorrectedBatchNorm(g, w).get('conv1.bn.running_var'), w.get('conv1.bn.running_var'), 'untouched before any step');
});
