/**
 * The model's contract (timm's): `forwardFeatures` gives the unpooled map, `forwardHead` pools
 * and classifies inside an ONNX graph, `forward` is their composition; one session per mode,
 * reused, replaced only when the weights it holds change; `resetClassifier` in place.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { OptionError, WeightFormatError } from '../errors.js';
import { nodeEngine } from '../runtime/engine-node.js';
import type { Engine } from '../runtime/engine.js';
import { relativeError, type Tensor, type TensorArray } from '../tensor.js';
import { GoogLeNet } from './model.js';

/** The Node engine, counting the sessions it creates. */
let created = 0;
const engine: Engine = {
  name: 'counted',
  device: 'cpu',
  resolve: () => Promise.resolve(engine),
  async createSession(model, options) {
    created++;
    return nodeEngine.createSession(model, options);
  },
};
const cached = (m: GoogLeNet): number => (m as unknown as { sessions: { size: number } }).sessions.size;

function input(dims: number[], seed = 1): Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = (s / 2 ** 32) * 2 - 1;
  }
  return { dims, data };
}

const models: GoogLeNet[] = [];
function model(...args: ConstructorParameters<typeof GoogLeNet>): GoogLeNet {
  const m = new GoogLeNet(args[0], { engine, threads: 2, ...args[1] }, args[2]);
  models.push(m);
  return m;
}
after(async () => {
  for (const m of models) await m.dispose();
});

test('at 224²: forwardFeatures is N×1024×7×7, forwardHead(forwardFeatures(x)) is forward(x), preLogits is the spatial mean', async () => {
  const m = model({ preset: 'torchvision', numClasses: 10 }, { seed: 3 });
  const x = input([2, 3, 224, 224]);
  const f = await m.forwardFeatures(x);
  assert.deepEqual(f.dims, [2, 1024, 7, 7]);
  assert.deepEqual([...m.featureShape], [1024, 7, 7]);
  const logits = await m.forwardHead(f);
  assert.deepEqual(logits.dims, [2, 10]);
  const ref = (await m.forward(x)).logits;
  assert.ok(relativeError(logits.data, ref.data) <= 1e-5, `relative error ${relativeError(logits.data, ref.data)}`);
  const pre = await m.forwardHead(f, { preLogits: true });
  assert.deepEqual(pre.dims, [2, 1024]);
  const mean = new Float32Array(2 * 1024);
  for (let i = 0; i < mean.length; i++) {
    let s = 0;
    for (let j = 0; j < 49; j++) s += f.data[i * 49 + j]!;
    mean[i] = s / 49;
  }
  assert.ok(relativeError(pre.data, mean) <= 1e-6, `preLogits vs mean ${relativeError(pre.data, mean)}`);
  // the pool5 tap of the full graph is the same vector
  const { pool5 } = await m.infer(x, { taps: ['pool5'] });
  assert.ok(relativeError(pre.data, pool5!.data) <= 1e-6);
});

test('forwardHead and forward say what shape they expected', async () => {
  const m = model({ preset: 'cifar', width: 0.25, numClasses: 4 });
  const [c, h, w] = m.featureShape as [number, number, number];
  await assert.rejects(m.forwardHead(input([1, c, h + 1, w])), (e: unknown) => {
    assert.ok(e instanceof OptionError);
    assert.equal(e.message, `features: expected N×${c}×${h}×${w} (forwardFeatures' output), got [1×${c}×${h + 1}×${w}]`);
    assert.equal(e.option, 'features');
    return true;
  });
  await assert.rejects(m.forward(input([1, 3, 16, 16])), { name: 'OptionError', message: 'input: this model was built for 32×32 images, got 16×16' });
  await assert.rejects(m.infer(input([1, 3, 32, 32]), { taps: ['pool6'] }), { name: 'OptionError', message: /^taps: unknown tap "pool6"; known: logits, / });
});

test('train-mode forward: one session, reused; eval sessions refreshed only when the running statistics they fold in change', async () => {
  const x = input([4, 3, 32, 32]);
  // With batch norm: the eval session folds in the running statistics, so a train-mode pass replaces it.
  const bn = model({ preset: 'cifar', width: 0.25, numClasses: 4, auxLogits: true });
  const head = await bn.forwardHead(await bn.forwardFeatures(x));
  const start = created;
  for (let i = 0; i < 5; i++) await bn.forward(x, { training: true });
  assert.equal(created - start, 1, 'one train-mode session for five passes');
  assert.equal(cached(bn), 2, 'the train session and the head (which reads no statistic) stay; the features session went');
  const after = (await bn.forward(x)).logits;
  const fresh = model(bn.config, {}, new Map(bn.weights));
  assert.ok(relativeError(after.data, (await fresh.forward(x)).logits.data) <= 1e-6, 'eval sees the updated statistics');
  assert.ok(relativeError(after.data, head.data) > 1e-3, 'and they did change');
  // Without batch norm nothing a train-mode pass changes is in an eval session.
  const plain = model({ preset: 'cifar', width: 0.25, numClasses: 4, norm: 'none' });
  const before = (await plain.forward(x)).logits;
  await plain.forward(x, { training: true });
  await plain.forward(x, { training: true });
  const n = created;
  assert.deepEqual((await plain.forward(x)).logits.data, before.data);
  assert.equal(created, n, 'the eval session was kept');
  assert.equal(cached(plain), 2);
});

test('invalidate(names) replaces only the sessions that read those weights; the train session reads weights per call', async () => {
  const m = model({ preset: 'cifar', width: 0.25, numClasses: 4 });
  const x = input([2, 3, 32, 32]);
  await m.forward(x, { training: true });
  await m.forwardHead(await m.forwardFeatures(x));
  assert.equal(cached(m), 3);
  m.invalidate(['fc.weight']);
  assert.equal(cached(m), 2, 'the head went');
  // the train session sees edited weights without being replaced
  const a = (await m.forward(x, { training: true })).logits;
  (m.weights.get('fc.bias') as Float32Array).fill(0);
  const b = (await m.forward(x, { training: true })).logits;
  assert.notDeepEqual(a.data, b.data);
  m.invalidate();
  assert.equal(cached(m), 1, 'only the weights-fed train session is left');
});

test('resetClassifier replaces the heads in place and keeps the rest', async () => {
  const m = model({ preset: 'cifar', width: 0.25, numClasses: 4, auxLogits: true });
  m.labels = ['a', 'b', 'c', 'd'];
  const x = input([2, 3, 32, 32]);
  const f = await m.forwardFeatures(x);
  await m.forward(x, { training: true });
  const conv = m.weights.get('conv1.conv.weight');
  m.resetClassifier(7, 1);
  assert.equal(m.config.numClasses, 7);
  assert.deepEqual(m.graph('eval').params.get('fc.weight')!.shape, [7, 256]);
  assert.equal((m.weights.get('fc.weight') as Float32Array).length, 7 * 256);
  assert.equal((m.weights.get('aux2.fc2.bias') as Float32Array).length, 7);
  assert.equal(m.weights.get('conv1.conv.weight'), conv, 'the backbone is untouched');
  assert.equal(m.labels, undefined);
  assert.deepEqual((await m.forwardHead(f)).dims, [2, 7]);
  const out = await m.forward(x, { training: true });
  assert.deepEqual([out.logits.dims, out.aux1!.dims, out.aux2!.dims], [[2, 7], [2, 7], [2, 7]]);
  assert.deepEqual((await m.forward(x)).logits.dims, [2, 7]);
});

test('models/ depends on nothing in data/ (transitively)', () => {
  const root = fileURLToPath(new URL('../', import.meta.url));
  const seen = new Set<string>();
  const visit = (file: string, via: string[]): void => {
    if (seen.has(file)) return;
    seen.add(file);
    assert.ok(!relative(root, file).startsWith(`data${sep}`), `models/ reaches ${relative(root, file)} through ${via.map((f) => relative(root, f)).join(' → ')}`);
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(/^(?:import|export)\s[^'";]*?(?:from\s+)?'(\.[^']+)'/gm)) {
      visit(resolve(dirname(file), spec!.replace(/\.js$/, '.ts')), [...via, file]);
    }
  };
  for (const f of readdirSync(join(root, 'models'))) if (f.endsWith('.ts') && !f.endsWith('.test.ts')) visit(join(root, 'models', f), []);
  assert.ok(seen.size > 10, `followed ${seen.size} modules`);
});

test('loadStateDict: a NaN num_batches_tracked and I32 data for float weights are WeightFormatErrors (issue 12)', () => {
  const m = new GoogLeNet({ preset: 'cifar', width: 0.125, numClasses: 3 }, { seed: 1 });
  const sd = (edit: (k: string, t: { dims: readonly number[]; data: TensorArray }) => TensorArray | undefined): Map<string, { dims: readonly number[]; data: TensorArray }> =>
    new Map([...m.stateDict()].map(([k, t]) => [k, { dims: t.dims, data: edit(k, t) ?? t.data }]));
  const nan = sd((k) => (k.endsWith('num_batches_tracked') ? Float32Array.of(NaN) : undefined));
  assert.throws(() => m.loadStateDict(nan, 'nan.pth'), (e: unknown) => e instanceof WeightFormatError && /num_batches_tracked" is NaN, expected a count of batches/.test(e.message));
  const ints = sd((k, t) => (k.endsWith('conv.weight') ? new Int32Array(t.data.length) : undefined));
  assert.throws(() => m.loadStateDict(ints, 'ints.safetensors'), /ints\.safetensors: ".*conv\.weight" holds integers \(Int32Array\), expected floating point/);
});
