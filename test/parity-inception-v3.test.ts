/**
 * Inception v3 against torchvision's `inception_v3` itself, on fixtures it computed at 299×299
 * (`scripts/make-fixtures.py`, random weights): eval and train-mode logits, the aux output, the
 * running statistics one train-mode pass leaves, `.pth` and `.safetensors` import,
 * `transform_input`, and the picture through `googlenet predict`. Relative error
 * ‖ours − ref‖/‖ref‖ ≤ 1e-4. The full-size model is loaded once and shared.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import '../src/runtime/engine-node.js';
import { GoogLeNet } from '../src/models/model.js';
import { relativeError, type Tensor } from '../src/tensor.js';
import { loadSafetensorsFile, type StoredTensor } from '../src/weights/safetensors-node.js';
import { loadStateDict } from '../src/weights/formats-node.js';
import { fixturePath, missingFixture } from './fixtures.js';

const TOL = 1e-4;
const SET = 'torchvision-inception-v3';
const PTH = 'inception-v3-tv-aux10.pth';

const asTensor = (t: StoredTensor): Tensor => ({ dims: [...t.dims], data: t.data as Float32Array });
const f32 = (t: StoredTensor | undefined): Float32Array => t!.data as Float32Array;

/** The .pth model with its aux head and every dropout at 0 (what the fixture's train-mode pass ran), and its io file. */
let pth: { model: GoogLeNet; io: Map<string, StoredTensor>; file: string } | undefined;

before(() => {
  const file = fixturePath(PTH, SET);
  const io = fixturePath('io-aux10.safetensors', SET);
  if (!file || !io) return;
  const model = new GoogLeNet({ arch: 'inception_v3', numClasses: 10, auxLogits: true, dropout: 0 }, {}, new Map());
  model.loadStateDict(loadStateDict(file), file);
  pth = { model, io: loadSafetensorsFile(io), file };
});

after(async () => {
  await pth?.model.dispose();
});

test('.pth with the aux head: eval logits, forwardHead(forwardFeatures(x)) and the 2048-d features match torchvision', async (t) => {
  if (!pth) return t.skip(missingFixture(`${PTH}, io-aux10.safetensors`, SET));
  const { model, io } = pth;
  const x = asTensor(io.get('input')!);
  const ref = f32(io.get('eval_logits'));
  const out = await model.forward(x);
  assert.deepEqual(out.logits.dims, [4, 10]);
  assert.equal(out.aux1, undefined, 'inference never computes the aux head');
  const err = relativeError(out.logits.data, ref);
  assert.ok(err <= TOL, `eval logits relative error ${err}`);
  t.diagnostic(`eval logits: relative error ${err.toExponential(2)}`);
  const map = await model.forwardFeatures(x);
  assert.deepEqual(map.dims, [4, 2048, 8, 8], "Mixed_7c, torchvision's avgpool input");
  const viaHead = await model.forwardHead(map);
  assert.ok(relativeError(viaHead.data, ref) <= TOL, 'forwardHead(forwardFeatures(x))');
  // The features (Keras' include_top=False, pooling='avg'), through the classifier by hand: fc(features) = logits.
  const feats = await model.features(x);
  assert.deepEqual(feats.dims, [4, 2048]);
  const w = model.weights.get('fc.weight') as Float32Array;
  const b = model.weights.get('fc.bias') as Float32Array;
  const byHand = new Float64Array(40);
  for (let n = 0; n < 4; n++)
    for (let c = 0; c < 10; c++) {
      let s = b[c]!;
      for (let i = 0; i < 2048; i++) s += w[c * 2048 + i]! * feats.data[n * 2048 + i]!;
      byHand[n * 10 + c] = s;
    }
  assert.ok(relativeError(byHand, ref) <= TOL, 'fc(features) = logits');
});

test('.pth with the aux head: train-mode logits, aux output and running statistics match torchvision', async (t) => {
  if (!pth) return t.skip(missingFixture(`${PTH}, io-aux10.safetensors`, SET));
  const { model, io, file } = pth;
  const before = (loadStateDict(file).get('Conv2d_1a_3x3.bn.num_batches_tracked')!.data as BigInt64Array)[0]!;
  const out = await model.forward(asTensor(io.get('input')!), { training: true });
  assert.deepEqual(Object.keys(out).sort(), ['aux1', 'logits'], 'one aux head: aux1 is AuxLogits');
  const trainErr = relativeError(out.logits.data, f32(io.get('train_logits')));
  assert.ok(trainErr <= TOL, `train logits ${trainErr}`);
  const auxErr = relativeError(out.aux1!.data, f32(io.get('train_aux')));
  assert.ok(auxErr <= TOL, `aux logits ${auxErr}`);
  let checked = 0;
  let worst = 0;
  for (const [k, v] of io) {
    const m = /^running_(mean|var)\.(.+)$/.exec(k);
    if (!m) continue;
    const err = relativeError(model.weights.get(`${m[2]}.running_${m[1]}`) as Float32Array, f32(v));
    assert.ok(err <= TOL, `${k}: ${err}`);
    worst = Math.max(worst, err);
    checked++;
  }
  t.diagnostic(
    `train logits ${trainErr.toExponential(2)}, aux ${auxErr.toExponential(2)}, worst running statistic ${worst.toExponential(2)}`,
  );
  assert.equal(checked, 2 * 96, 'every batch norm (94 of the network, 2 of AuxLogits) has both statistics');
  assert.equal((model.weights.get('Conv2d_1a_3x3.bn.num_batches_tracked') as BigInt64Array)[0], before + 1n);
});

test('.safetensors with transform_input, no aux head: eval logits match torchvision', async (t) => {
  const file = fixturePath('inception-v3-tv-noaux10.safetensors', SET);
  const io = fixturePath('io-noaux10.safetensors', SET);
  if (!file || !io) return t.skip(missingFixture('inception-v3-tv-noaux10.safetensors, io-noaux10.safetensors', SET));
  const m = new GoogLeNet({ arch: 'inception_v3', numClasses: 10, transformInput: true }, {}, new Map());
  m.loadStateDict(loadStateDict(file), file);
  const ref = loadSafetensorsFile(io);
  const err = relativeError((await m.forward(asTensor(ref.get('input')!))).logits.data, f32(ref.get('eval_logits')));
  await m.dispose();
  assert.ok(err <= TOL, `relative error ${err}`);
  t.diagnostic(`relative error ${err.toExponential(2)}`);
});

test('the picture through `googlenet predict --arch inception_v3 --resize 299 --crop 299`', (t) => {
  const [file, png, io] = ['inception-v3-tv-noaux10.safetensors', 'image-299.png', 'io-image.safetensors'].map((n) => fixturePath(n, SET));
  if (!file || !png || !io) return t.skip(missingFixture('inception-v3-tv-noaux10.safetensors, image-299.png, io-image.safetensors', SET));
  const args = ['predict', '--weights', file, '--arch', 'inception_v3', '--num-classes', '10', '--transform-input'];
  args.push('--resize', '299', '--crop', '299', '--logits', '--json', png);
  const out = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8' })) as {
    logits: number[];
  }[];
  const err = relativeError(out[0]!.logits, f32(loadSafetensorsFile(io).get('eval_logits')));
  assert.ok(err <= TOL, `relative error ${err}`);
  t.diagnostic(`relative error ${err.toExponential(2)}`);
});
