/**
 * Inception v3's training graph against PyTorch's float64 autograd (`scripts/make-fixtures.py`):
 * the whole network at 107×107 (at 75×75, torchvision's smallest input, batch norms over 1×1 maps
 * make float64 gradients ill-conditioned: see make-fixtures.py), and the aux head, which needs 299,
 * alone at its real size (N×768×17×17 in). Our training graph lowered in float64 gives every
 * gradient to ≤ 1e-9 per tensor. The network's gradients are 23.8 M values, so the fixture stores
 * them as fingerprints: Σg² and four signed sums per tensor (±1 signs from an integer hash that
 * both sides compute), and the small tensors whole.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import '../src/runtime/engine-node.js';
import { GraphBuilder } from '../src/graph/builder.js';
import type { Graph } from '../src/graph/ir.js';
import { inceptionV3Aux } from '../src/layers/index.js';
import { GoogLeNet } from '../src/models/model.js';
import { getDefaultEngine } from '../src/runtime/engine.js';
import { relativeError } from '../src/tensor.js';
import { buildTrainGraph, trainLayout } from '../src/train/train-graph.js';
import type { Weights } from '../src/graph/lower.js';
import { loadStateDict } from '../src/weights/formats-node.js';
import { loadSafetensorsFile, type StoredTensor } from '../src/weights/safetensors-node.js';
import { fixturePath, gradientProjections, missingFixture } from './fixtures.js';
import { float64Conv } from './float64-ops.js';

const SET = 'torchvision-inception-v3';
const f64 = (t: StoredTensor): Float64Array => t.data as Float64Array;

/** Every gradient of `g` in float64, from the training graph lowered in float64 (loss: cross-entropy of `logits`). */
async function gradients64(
  g: Graph,
  weights: Weights,
  input: StoredTensor,
  labels: StoredTensor,
): Promise<{ loss: number; grads: Map<string, Float64Array> }> {
  const layout = trainLayout(g, () => false);
  const tg = buildTrainGraph(g, layout, {
    kind: 'gradients',
    numClasses: 10,
    auxWeight: 0,
    labelSmoothing: 0,
    dtype: 'float64',
    lowering: { conv: float64Conv },
  });
  const s = await getDefaultEngine().createSession(tg.bytes);
  const w = (n: string): Float32Array => weights.get(n) as Float32Array;
  try {
    const r = await s.run({
      input: { dims: [...input.dims], data: f64(input) },
      labels: { dims: [...labels.dims], data: labels.data as BigInt64Array },
      params: { dims: [layout.trainable.total], data: Float64Array.from(layout.trainable.pack(w)) },
      ...(layout.stats.total ? { bn_stats: { dims: [layout.stats.total], data: Float64Array.from(layout.stats.pack(w)) } } : {}),
    });
    return {
      loss: r.loss!.data[0] as number,
      grads: new Map(layout.trainable.slots.map((sl) => [sl.name, r[`grad.${sl.name}`]!.data as Float64Array])),
    };
  } finally {
    await s.release();
  }
}

describe('Inception v3 gradients, float64, against PyTorch autograd', () => {
  it('the whole network at 107×107: loss ≤ 1e-12, every gradient ≤ 1e-9 per tensor (Σg², signed sums, small tensors whole)', async (t) => {
    const [weights, ref] = [fixturePath('inception-v3-tv-aux10.pth', SET), fixturePath('grads64-107.safetensors', SET)];
    if (!weights || !ref) return t.skip(missingFixture('inception-v3-tv-aux10.pth, grads64-107.safetensors', SET));
    const m = new GoogLeNet({ arch: 'inception_v3', numClasses: 10, inputSize: 107, dropout: 0 }, {}, new Map());
    m.loadStateDict(loadStateDict(weights), weights); // the file's AuxLogits are left out: no aux head below 299×299
    const r = loadSafetensorsFile(ref);
    const ours = await gradients64(m.graph('train'), m.weights, r.get('input')!, r.get('labels')!);
    const loss = f64(r.get('loss')!)[0]!;
    assert.ok(Math.abs(ours.loss - loss) / loss <= 1e-12, `loss ${ours.loss} vs PyTorch ${loss}`);
    let tensors = 0;
    let whole = 0;
    let worst = 0;
    for (const [name, g] of ours.grads) {
      const sq = g.reduce((a, v) => a + v * v, 0);
      const refSq = f64(r.get(`sq.${name}`)!)[0]!;
      assert.ok(Math.abs(sq - refSq) / refSq <= 2e-9, `${name}: Σg² ${sq} vs ${refSq}`);
      const e = relativeError(gradientProjections(g), f64(r.get(`proj.${name}`)!));
      worst = Math.max(worst, e, Math.abs(sq - refSq) / refSq);
      assert.ok(e <= 1e-9, `${name}: signed sums, relative error ${e.toExponential(2)}`);
      const full = r.get(`grad.${name}`);
      if (full) {
        const ef = relativeError(g, f64(full));
        assert.ok(ef <= 1e-9, `${name}: relative error ${ef.toExponential(2)}`);
        whole++;
      }
      tensors++;
    }
    assert.equal(tensors, [...r.keys()].filter((k) => k.startsWith('sq.')).length, 'a gradient for every parameter PyTorch has');
    assert.equal(tensors, 2 + 94 * 3, 'the fc, and every BasicConv2d (conv weight, bn weight and bias)');
    assert.ok(whole > 200, `${whole} tensors compared whole`);
    t.diagnostic(`worst relative error of a fingerprint: ${worst.toExponential(2)}`);
    await m.dispose();
  });

  it('the aux head (AuxLogits) at its real size, N×768×17×17: every gradient ≤ 1e-9', async (t) => {
    const [weights, ref] = [fixturePath('inception-v3-tv-aux10.pth', SET), fixturePath('grads64-aux.safetensors', SET)];
    if (!weights || !ref) return t.skip(missingFixture('inception-v3-tv-aux10.pth, grads64-aux.safetensors', SET));
    const b = new GraphBuilder();
    b.output('logits', inceptionV3Aux(b.input('input', [768, 17, 17]), { name: 'AuxLogits', numClasses: 10 }));
    const g = b.build();
    const sd = loadStateDict(weights);
    const w: Weights = new Map([...g.params.keys()].map((k) => [k, sd.get(k)!.data as Float32Array]));
    const r = loadSafetensorsFile(ref);
    const ours = await gradients64(g, w, r.get('input')!, r.get('labels')!);
    const loss = f64(r.get('loss')!)[0]!;
    assert.ok(Math.abs(ours.loss - loss) / loss <= 1e-12, `loss ${ours.loss} vs PyTorch ${loss}`);
    assert.equal(ours.grads.size, 8, 'conv0, conv1 (weight, bn weight, bn bias), fc weight and bias');
    let worst = 0;
    for (const [name, g64] of ours.grads) {
      const e = relativeError(g64, f64(r.get(`grad.${name}`)!));
      assert.ok(e <= 1e-9, `${name}: relative error ${e.toExponential(2)}`);
      worst = Math.max(worst, e);
    }
    t.diagnostic(`worst relative error: ${worst.toExponential(2)}`);
  });
});
