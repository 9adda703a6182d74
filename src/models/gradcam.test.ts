/**
 * Grad-CAM from the model's own graph: the closed form it must reduce to at the last feature map
 * (global average pooling then a linear layer make α_k = W[c, k]/hw, so the map is the class
 * activation map of Zhou et al. divided by hw), batch independence, the default class and layer
 * per head, the branches of a concatenation read from any graph, and every bad request's message.
 * (Parity with PyTorch's autograd on torchvision's model is in test/explain.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { OptionError } from '../errors.js';
import { GraphBuilder } from '../graph/builder.js';
import * as L from '../layers/index.js';
import '../runtime/engine-node.js';
import { Rng } from '../rng.js';
import { relativeError, type Tensor } from '../tensor.js';
import { buildGoogLeNet } from './googlenet.js';
import { branchModules, featureTaps, moduleBranches, resolveGradCamTarget } from './gradcam.js';
import { resolveConfig, type GoogLeNetOptions } from './config.js';
import { GoogLeNet } from './model.js';

const models: GoogLeNet[] = [];
after(async () => {
  for (const m of models) await m.dispose();
});

/** A small model whose weights keep activations near unit scale (He-normal convs, random batch-norm statistics). */
function model(options: GoogLeNetOptions, seed = 1): GoogLeNet {
  const m = new GoogLeNet(options, { seed, threads: 2 });
  const rng = new Rng(seed + 100);
  for (const p of m.paramSpecs()) {
    const w = m.weights.get(p.name);
    if (!(w instanceof Float32Array)) continue;
    const fanIn = p.shape.slice(1).reduce((a, b) => a * b, 1);
    for (let i = 0; i < w.length; i++) {
      if (p.role === 'conv.weight') w[i] = rng.normal() * Math.sqrt(2 / fanIn);
      else if (p.role === 'linear.weight') w[i] = rng.normal() * Math.sqrt(1 / fanIn);
      else if (p.role === 'bn.weight' || p.role === 'bn.running_var') w[i] = 0.5 + rng.float();
      else w[i] = rng.normal() * 0.1;
    }
  }
  m.invalidate();
  models.push(m);
  return m;
}

function input(dims: number[], seed: number): Tensor {
  const rng = new Rng(seed);
  return { dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rng.normal()) };
}

const SMALL: GoogLeNetOptions = { preset: 'cifar', width: 0.125, numClasses: 10, inputSize: 32, auxLogits: true };

/** Asserts that `f` throws an OptionError for `option` whose message matches `re`. */
async function rejects(f: () => Promise<unknown>, option: string, re: RegExp): Promise<void> {
  await assert.rejects(f, (e: unknown) => {
    assert.ok(e instanceof OptionError, `expected an OptionError, got ${String(e)}`);
    assert.equal(e.option, option);
    assert.match(e.message, re);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
}

describe('Grad-CAM', () => {
  it('at the last feature map is ReLU(Σ_k W[c,k]·A^k)/hw (the class activation map), for the top class by default', async () => {
    const m = model(SMALL);
    const x = input([2, 3, 32, 32], 5);
    const r = await m.gradCam(x);
    assert.equal(r.layer, 'inception5b');
    assert.equal(r.head, 'logits');
    const { logits, inception5b: a } = await m.infer(x, { taps: ['inception5b'] });
    assert.ok(relativeError(r.heads.logits!.data, logits!.data) < 1e-5, 'the same logits as inference');
    const [n, k, h, w] = a!.dims as [number, number, number, number];
    assert.deepEqual(r.cam.dims, [n, h, w]);
    assert.deepEqual(r.alpha.dims, [n, k]);
    const W = m.weights.get('fc.weight') as Float32Array;
    for (let i = 0; i < n; i++) {
      const row = logits!.data.subarray(i * 10, (i + 1) * 10);
      const top = row.indexOf(Math.max(...row));
      assert.equal(r.classIndex[i], top);
      const ref = new Float64Array(h * w);
      for (let c = 0; c < k; c++) for (let j = 0; j < h * w; j++) ref[j]! += (W[top * k + c]! * a!.data[(i * k + c) * h * w + j]!) / (h * w);
      const want = ref.map((v) => Math.max(v, 0));
      assert.ok(want.some((v) => v > 0), 'a map with some evidence');
      const got = r.cam.data.subarray(i * h * w, (i + 1) * h * w);
      assert.ok(relativeError(got, want) < 1e-5, `image ${i}: relative error ${relativeError(got, want)}`);
      for (let c = 0; c < k; c++) assert.ok(Math.abs(r.alpha.data[i * k + c]! - W[top * k + c]! / (h * w)) < 1e-6);
    }
  });

  it('explains each image alone: a batch with a class per image gives what each image gives by itself', async () => {
    const m = model(SMALL);
    const x = input([2, 3, 32, 32], 6);
    const both = await m.gradCam(x, { layer: 'inception4c', classIndex: [3, 9] });
    assert.deepEqual(both.classIndex, [3, 9]);
    const size = 3 * 32 * 32;
    for (const [i, c] of [
      [0, 3],
      [1, 9],
    ] as const) {
      const one = await m.gradCam({ dims: [1, 3, 32, 32], data: x.data.slice(i * size, (i + 1) * size) }, { layer: 'inception4c', classIndex: c });
      const hw = one.cam.data.length;
      assert.ok(one.cam.data.some((v) => v > 0));
      assert.ok(relativeError(both.cam.data.subarray(i * hw, (i + 1) * hw), one.cam.data) < 1e-5, `image ${i}`);
    }
  });

  it('explains an auxiliary head at the last tap that feeds it, and returns every head and the asked taps', async () => {
    const m = model(SMALL);
    const x = input([1, 3, 32, 32], 7);
    const r = await m.gradCam(x, { head: 'aux1', taps: ['inception3b'] });
    assert.equal(r.layer, 'inception4a');
    assert.deepEqual(Object.keys(r.heads).sort(), ['aux1', 'aux2', 'logits']);
    const aux1 = r.heads.aux1!.data;
    assert.equal(r.classIndex[0], aux1.indexOf(Math.max(...aux1)));
    assert.deepEqual(r.activations.inception3b!.dims, [1, 60, 32, 32]);
    assert.deepEqual(r.cam.dims, [1, 16, 16]);
  });

  it('follows the weights: a changed classifier, once invalidated, gives another map', async () => {
    const m = model(SMALL);
    const x = input([1, 3, 32, 32], 8);
    const before = Float32Array.from((await m.gradCam(x, { classIndex: 2 })).cam.data);
    (m.weights.get('fc.weight') as Float32Array).forEach((v, i, a) => (a[i] = -v));
    m.invalidate(['fc.weight']);
    const afterFlip = (await m.gradCam(x, { classIndex: 2 })).cam.data;
    assert.ok(relativeError(afterFlip, before) > 0.1);
  });

  it('keeps the two most recently used Grad-CAM graphs (each holds the weights), not one per tap ever asked, and none that a call is running', async () => {
    const m = model(SMALL);
    const x = input([1, 3, 32, 32], 10);
    const explainSessions = (): string[] =>
      [...(m as unknown as { sessions: { entries: Map<string, unknown> } }).sessions.entries.keys()].filter((k) => k.startsWith('explain:'));
    for (const layer of ['inception3a', 'inception4a', 'inception3a', 'inception5a']) await m.gradCam(x, { layer });
    assert.deepEqual(explainSessions(), ['explain:gradcam:logits:inception3a:', 'explain:gradcam:logits:inception5a:']);
    // Calls at once on more taps than are kept: none loses its session to another's trim.
    const layers = ['inception3b', 'inception4b', 'inception4d', 'inception5a'];
    const alone = await m.gradCam(x, { layer: 'inception3b' });
    const together = await Promise.all(layers.map((layer) => m.gradCam(x, { layer })));
    assert.deepEqual(
      together.map((r) => r.layer),
      layers,
    );
    assert.deepEqual([...together[0]!.cam.data], [...alone.cam.data]);
    await m.gradCam(x, { layer: 'inception4a' });
    assert.equal(explainSessions().length, 2, 'the next call trims what the running ones kept');
  });

  it('bad requests: one line naming the option and saying what it takes', async () => {
    const m = model(SMALL);
    const noAux = model({ ...SMALL, auxLogits: false });
    const x = input([1, 3, 32, 32], 9);
    await rejects(() => m.gradCam(x, { layer: 'inception9z' }), 'layer', /unknown tap "inception9z"; .* takes one of: conv1, .*inception5b$/);
    await rejects(() => m.gradCam(x, { layer: 'pool5' }), 'layer', /pool5 is not a feature map \(its shape is \[128\], not C×H×W\); .* takes one of: conv1, /);
    await rejects(() => m.gradCam(x, { head: 'aux1', layer: 'inception5b' }), 'layer', /inception5b does not feed head aux1.*inception4a$/);
    await rejects(() => noAux.gradCam(x, { head: 'aux1' }), 'head', /unknown head "aux1"; this model's heads: logits \(auxiliary heads exist/);
    await rejects(() => m.gradCam(x, { classIndex: 10 }), 'classIndex', /expected an integer in \[0, 9\] \(head logits has 10 classes\), received number 10/);
    await rejects(() => m.gradCam(x, { classIndex: -1 }), 'classIndex', /received number -1/);
    await rejects(() => m.gradCam(x, { classIndex: 1.5 }), 'classIndex', /received number 1.5/);
    await rejects(() => m.gradCam(x, { classIndex: [1, 2] }), 'classIndex', /one class per image \(1\), received an array of 2/);
    await rejects(() => m.gradCam(x, { taps: ['nope'] }), 'taps', /unknown tap "nope"/);
    await rejects(() => m.gradCam(x, { method: 'scorecam' as never }), 'method', /expected one of gradcam, gradcam\+\+, received "scorecam"/);
  });
});

describe('branches of a concatenation', () => {
  it("GoogLeNet's modules: four branches named as torchvision's, with their channels and operations", () => {
    const g = buildGoogLeNet(resolveConfig({ preset: 'torchvision' }), { mode: 'eval' });
    assert.deepEqual(branchModules(g), [
      'inception3a',
      'inception3b',
      'inception4a',
      'inception4b',
      'inception4c',
      'inception4d',
      'inception4e',
      'inception5a',
      'inception5b',
    ]);
    assert.deepEqual(moduleBranches(g, 'inception3a'), [
      { name: 'branch1', ops: '1×1 conv', offset: 0, channels: 64 },
      { name: 'branch2', ops: '1×1 conv → 3×3 conv', offset: 64, channels: 128 },
      { name: 'branch3', ops: '1×1 conv → 3×3 conv', offset: 192, channels: 32 },
      { name: 'branch4', ops: '3×3 max pool → 1×1 conv', offset: 224, channels: 32 },
    ]);
    assert.equal(featureTaps(g).at(-1), 'inception5b');
    assert.throws(() => moduleBranches(g, 'conv1'), /branches: conv1 is not a module of parallel branches .*modules with branches: inception3a, /);
    assert.throws(() => moduleBranches(g, 'inception6a'), /branches: unknown tap "inception6a"/);
  });

  it('any graph: a naive Inception module (a pool branch with no convolution), its default Grad-CAM layer', () => {
    const b = new GraphBuilder();
    const x = b.input('x', [5, 9, 9]);
    const m = b.tap('mix', L.naiveInception(x, { name: 'mix', ch1x1: 2, ch3x3: 3, ch5x5: 4 }));
    b.output('logits', L.linear(L.flatten(L.globalAvgPool(m, 'gap'), 'flat'), 'fc', { out: 3 }));
    const g = b.build();
    assert.deepEqual(
      moduleBranches(g, 'mix').map((s) => [s.name, s.ops, s.channels]),
      [
        ['branch1', '1×1 conv', 2],
        ['branch2', '3×3 conv', 3],
        ['branch3', '5×5 conv', 4],
        ['branch4', '3×3 max pool', 5],
      ],
    );
    assert.deepEqual(resolveGradCamTarget(g, {}), { layer: 'mix', head: 'logits' });
  });
});
