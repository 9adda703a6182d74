import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTrainable } from '../graph/ir.js';
import { numel } from '../tensor.js';
import { resolveConfig, type GoogLeNetOptions } from './config.js';
import { buildGoogLeNet } from './googlenet.js';
import { compareNaive, summarize } from './summary.js';
import { GraphBuilder } from '../graph/builder.js';
import { conv2d } from '../layers/index.js';

function count(o: GoogLeNetOptions): number {
  const g = buildGoogLeNet(resolveConfig(o), { mode: 'train' });
  return [...g.params.values()].filter(isTrainable).reduce((s, p) => s + numel(p.shape), 0);
}

test('exact parameter counts per preset, without and with aux heads', () => {
  const expected: Record<string, [number, number]> = {
    paper: [6_998_552, 13_378_280],
    bn: [7_005_832, 13_385_816], // torchinfo's total in the Inception v1 summary
    torchvision: [6_624_904, 13_004_888],
  };
  for (const [preset, [noAux, aux]] of Object.entries(expected)) {
    assert.equal(count({ preset: preset as 'paper' }), noAux, `${preset} without aux`);
    assert.equal(count({ preset: preset as 'paper', auxLogits: true }), aux, `${preset} with aux`);
  }
  // torchvision googlenet(num_classes=10, aux_logits=True): the fixture's 9,960,638
  assert.equal(count({ preset: 'torchvision', numClasses: 10, auxLogits: true }), 9_960_638);
});

test('state dict has torchvision keys (364 for the aux model, num_batches_tracked included)', () => {
  const g = buildGoogLeNet(resolveConfig({ preset: 'torchvision', numClasses: 10, auxLogits: true }), { mode: 'train' });
  assert.equal(g.params.size, 364);
  const keys = ['conv1.conv.weight', 'conv1.bn.num_batches_tracked', 'inception3a.branch2.1.conv.weight'];
  keys.push('inception3a.branch4.1.bn.running_var', 'aux1.conv.conv.weight', 'aux2.fc1.weight', 'fc.bias');
  for (const k of keys) {
    assert.ok(g.params.has(k), k);
  }
  assert.deepEqual(g.params.get('inception3a.branch3.1.conv.weight')!.shape, [32, 16, 3, 3]); // torchvision's 3×3 "5×5"
  assert.deepEqual(g.params.get('aux1.fc1.weight')!.shape, [1024, 2048]);
});

test('multiply-adds at 224×224: ≈1.50 G torchvision, ≈1.58 G bn', () => {
  const macs = (preset: 'torchvision' | 'bn'): number => summarize(buildGoogLeNet(resolveConfig({ preset }), { mode: 'eval' })).macs;
  assert.ok(Math.abs(macs('torchvision') / 1e9 - 1.5) < 0.005, `torchvision ${macs('torchvision')}`);
  assert.ok(Math.abs(macs('bn') / 1e9 - 1.58) < 0.005, `bn ${macs('bn')}`);
});

test("paper Table 1 per-module figures (K = 1024 weights, M = 1e6 ops)", () => {
  const cfg = resolveConfig({ preset: 'paper' });
  const g = buildGoogLeNet(cfg, { mode: 'eval' });
  const rows = new Map(compareNaive(cfg, g).map((r) => [r.name, r.reduced]));
  // ops: every module of Table 1 but 5a, whose printed 54M disagrees with its own channel columns (51M)
  const ops: Record<string, number> = { inception3a: 128, inception3b: 304, inception4a: 73, inception4b: 88, inception4c: 100, inception4d: 119, inception4e: 170, inception5b: 71 };
  for (const [m, mOps] of Object.entries(ops)) assert.ok(Math.abs(rows.get(m)!.macs / 1e6 - mOps) < 1, `${m} ops ${rows.get(m)!.macs}`);
  // params: the rows whose printed figure matches the table's own channel columns
  for (const [m, k] of Object.entries({ inception3a: 159, inception3b: 379 })) assert.equal(Math.floor(rows.get(m)!.params / 1024), k, `${m} params`);
  assert.equal(Math.round(rows.get('inception4b')!.params / 1024), 438);
});

test('seed arithmetic: naive 3×3 192→128 = 221,184 weights; reduced through 96 = 129,024', () => {
  assert.equal(128 * 192 * 3 * 3, 221_184);
  const cfg = resolveConfig({ preset: 'bn' });
  const r = compareNaive(cfg, buildGoogLeNet(cfg, { mode: 'eval' })).find((x) => x.name === 'inception3a')!;
  // inception3a's 3×3 branch is exactly the seed's example: 192 → 96 → 128
  assert.equal(r.inChannels, 192);
  assert.equal(96 * 192 + 128 * 96 * 9, 129_024);
  assert.ok(r.naive.params > r.reduced.params);
});

test('output shapes follow PyTorch arithmetic (7×7/2 pad 3, ceil-mode pools)', () => {
  const g = buildGoogLeNet(resolveConfig({ preset: 'torchvision' }), { mode: 'eval' });
  const s = (v: string): number[] => [...g.shapes.get(g.taps[v]!)!];
  assert.deepEqual(s('conv1'), [64, 112, 112]);
  assert.deepEqual(s('maxpool1'), [64, 56, 56]);
  assert.deepEqual(s('maxpool2'), [192, 28, 28]);
  assert.deepEqual(s('inception3b'), [480, 28, 28]);
  assert.deepEqual(s('inception4a'), [512, 14, 14]);
  assert.deepEqual(s('inception4e'), [832, 14, 14]);
  assert.deepEqual(s('maxpool4'), [832, 7, 7]);
  assert.deepEqual(s('pool5'), [1024]);
  // cifar: no early downsampling; 28×28 greyscale works too
  const c = buildGoogLeNet(resolveConfig({ preset: 'cifar', inChannels: 1, inputSize: 28, numClasses: 10 }), { mode: 'eval' });
  assert.deepEqual([...c.shapes.get(c.taps['inception3b']!)!], [480, 28, 28]);
  assert.deepEqual([...c.shapes.get(c.taps['inception5b']!)!], [1024, 7, 7]);
  assert.deepEqual([...c.shapes.get(c.outputs['logits']!)!], [10]);
});

test('width multiplier scales and rounds every hidden channel count', () => {
  const g = buildGoogLeNet(resolveConfig({ preset: 'cifar', width: 0.25, auxLogits: true }), { mode: 'train' });
  assert.deepEqual([...g.shapes.get('inception3a')!], [16 + 32 + 8 + 8, 32, 32]);
  assert.deepEqual(g.params.get('fc.weight')!.shape, [1000, 256]);
  assert.deepEqual(g.params.get('aux1.fc1.weight')!.shape, [256, 32 * 16]);
});

test('eval graphs never contain aux heads; train graphs do only with auxLogits', () => {
  const cfg = resolveConfig({ preset: 'torchvision', auxLogits: true });
  assert.deepEqual(Object.keys(buildGoogLeNet(cfg, { mode: 'eval' }).outputs), ['logits']);
  assert.deepEqual(Object.keys(buildGoogLeNet(cfg, { mode: 'train' }).outputs), ['logits', 'aux1', 'aux2']);
  assert.deepEqual(Object.keys(buildGoogLeNet(resolveConfig({ preset: 'torchvision' }), { mode: 'train' }).outputs), ['logits']);
});

test('bad options name the option and the value received', () => {
  assert.throws(() => resolveConfig({ preset: 'resnet' as 'paper' }), { message: 'preset: expected one of paper, bn, torchvision, cifar, received "resnet"' });
  assert.throws(() => resolveConfig({ numClasses: 0 }), { message: 'numClasses: expected a positive integer, received 0' });
  assert.throws(() => resolveConfig({ inChannels: 2 }), { message: 'inChannels: expected 1 or 3, received 2' });
  assert.throws(() => resolveConfig({ width: -1 }), { message: 'width: expected a number in (0, 4], received -1' });
  assert.throws(() => resolveConfig({ dropout: 1.5 }), { message: 'dropout: expected a probability in [0, 1), received 1.5' });
  assert.throws(() => resolveConfig({ colour: 1 } as GoogLeNetOptions), /colour: expected a known option/);
  assert.throws(() => resolveConfig({ inputSize: 4 }), { message: 'inputSize: expected an integer in [8, 4096], received 4' });
  const b = new GraphBuilder();
  assert.throws(() => conv2d(b.input('x', [3, 5, 5]), 'big', { out: 4, kernel: 7 }), /big: output size \[4×-1×-1\] is not positive/);
});
