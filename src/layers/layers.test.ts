import assert from 'node:assert/strict';
import { test } from 'node:test';
import '../runtime/engine-node.js';
import { GraphBuilder } from '../graph/builder.js';
import { lowerToOnnx } from '../graph/lower.js';
import { getDefaultEngine } from '../runtime/engine.js';
import { initWeights } from '../models/init.js';
import { resolveConfig } from '../models/config.js';
import { Rng } from '../rng.js';
import {
  adaptiveAvgPool,
  basicConv,
  flatten,
  globalAvgPool,
  inception,
  inceptionAux,
  linear,
  lrn,
  maxPool,
  naiveInception,
} from './index.js';

test('blocks compose into a user network (Keras functional style) that runs on ONNX Runtime', async () => {
  const b = new GraphBuilder();
  const x = b.input('input', [3, 32, 32]);
  let y = basicConv(x, 'stem', { out: 16, kernel: 3, pad: 1 });
  y = inception(y, { name: 'block1', ch1x1: 8, ch3x3red: 4, ch3x3: 8, ch5x5red: 2, ch5x5: 4, poolProj: 4 }); // 16×32×32 → 24×32×32
  y = maxPool(y, 'pool', { kernel: 3, stride: 2 }); // → 24×16×16
  y = naiveInception(y, { name: 'naive', ch1x1: 4, ch3x3: 4, ch5x5: 4 }); // → (4 + 4 + 4 + 24)×16×16
  assert.deepEqual([...y.shape], [36, 16, 16]);
  const aux = inceptionAux(y, { name: 'aux', numClasses: 5, pool: 'adaptive', convChannels: 8, hidden: 16 });
  b.output('logits', linear(flatten(globalAvgPool(y)), 'fc', { out: 5 }));
  b.output('aux', aux);
  const g = b.build();
  const weights = initWeights(g.params.values(), resolveConfig({}), new Rng(1));
  const s = await getDefaultEngine().createSession(lowerToOnnx(g, { mode: 'eval', weights }).bytes);
  const r = await s.run({ input: { dims: [2, 3, 32, 32], data: new Float32Array(2 * 3 * 32 * 32).fill(0.5) } });
  assert.deepEqual(r.logits!.dims, [2, 5]);
  assert.deepEqual(r.aux!.dims, [2, 5]);
  assert.ok(Array.from(r.logits!.data as Float32Array).every(Number.isFinite));
  await s.release();
});

test('LRN, fixed and adaptive pooling reproduce PyTorch shapes', () => {
  const b = new GraphBuilder();
  const x = b.input('input', [512, 14, 14]);
  assert.deepEqual([...lrn(x, 'lrn').shape], [512, 14, 14]);
  // the paper's aux pool 5×5/3 and torchvision's adaptive 4×4 agree in shape at 14×14 …
  const fixed = inceptionAux(x, { name: 'a', numClasses: 3, pool: 'fixed' });
  const adaptive = inceptionAux(x, { name: 'b', numClasses: 3, pool: 'adaptive' });
  assert.deepEqual([...fixed.shape], [3]);
  assert.deepEqual([...adaptive.shape], [3]);
  // … but not at 16×16 (5×5/3 gives 4, adaptive is always 4) nor at 20×20 (6 vs 4)
  const b2 = new GraphBuilder();
  const z = b2.input('input', [8, 20, 20]);
  assert.deepEqual([...adaptiveAvgPool(z, 'p', 4).shape], [8, 4, 4]);
  assert.deepEqual([...maxPool(z, 'm', { kernel: 3, stride: 2 }).shape], [8, 10, 10]); // ceil mode: ⌈17/2⌉ + 1
  assert.deepEqual([...maxPool(z, 'm2', { kernel: 3, stride: 2, ceil: false }).shape], [8, 9, 9]);
});
