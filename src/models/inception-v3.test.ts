import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTrainable } from '../graph/ir.js';
import { numel } from '../tensor.js';
import { archOfStateDict, buildNetwork, withArchOf } from './arch.js';
import { resolveConfig, type ModelOptions } from './config.js';
import { INCEPTION_V3_TABLE } from './inception-v3.js';
import { summarize } from './summary.js';

const graph = (o: ModelOptions, mode: 'eval' | 'train' = 'train') => buildNetwork(resolveConfig(o), { mode });
const count = (o: ModelOptions): number =>
  [...graph(o).params.values()].filter(isTrainable).reduce((s, p) => s + numel(p.shape), 0);

test("exact parameter counts: torchvision 0.14's 27,161,264 with AuxLogits, 23,834,568 without, 21,785,568 without the classifier", () => {
  assert.equal(count({ arch: 'inception_v3', auxLogits: true }), 27_161_264);
  assert.equal(count({ arch: 'inception_v3' }), 23_834_568);
  assert.equal(count({ arch: 'inception_v3', includeTop: false }), 21_785_568);
  assert.equal(count({ arch: 'inception_v3', includeTop: false, pooling: 'max' }), 21_785_568);
  // torchvision inception_v3(num_classes=10, aux_logits=True): the fixture's 24,371,444
  assert.equal(count({ arch: 'inception_v3', numClasses: 10, auxLogits: true }), 24_371_444);
});

test("the state dict has torchvision's 580 keys, names and shapes (num_batches_tracked included)", () => {
  const g = graph({ arch: 'inception_v3', auxLogits: true });
  assert.equal(g.params.size, 580);
  const shapes: Record<string, number[]> = {
    'Conv2d_1a_3x3.conv.weight': [32, 3, 3, 3],
    'Conv2d_4a_3x3.bn.running_var': [192],
    'Mixed_5b.branch5x5_2.conv.weight': [64, 48, 5, 5],
    'Mixed_5c.branch_pool.conv.weight': [64, 256, 1, 1],
    'Mixed_6a.branch3x3.conv.weight': [384, 288, 3, 3],
    'Mixed_6b.branch7x7_2.conv.weight': [128, 128, 1, 7],
    'Mixed_6e.branch7x7dbl_4.conv.weight': [192, 192, 7, 1],
    'AuxLogits.conv1.conv.weight': [768, 128, 5, 5],
    'AuxLogits.fc.weight': [1000, 768],
    'Mixed_7a.branch7x7x3_4.conv.weight': [192, 192, 3, 3],
    'Mixed_7b.branch3x3_2b.conv.weight': [384, 384, 3, 1],
    'Mixed_7c.branch3x3dbl_3a.conv.weight': [384, 384, 1, 3],
    'Mixed_7c.branch_pool.bn.num_batches_tracked': [],
    'fc.weight': [1000, 2048],
  };
  for (const [k, s] of Object.entries(shapes)) assert.deepEqual(g.params.get(k)?.shape, s, k);
  // In torchvision's order: AuxLogits between Mixed_6e and Mixed_7a.
  const keys = [...g.params.keys()];
  assert.ok(keys.indexOf('Mixed_6e.branch_pool.bn.num_batches_tracked') < keys.indexOf('AuxLogits.conv0.conv.weight'));
  assert.ok(keys.indexOf('AuxLogits.fc.bias') < keys.indexOf('Mixed_7a.branch3x3_1.conv.weight'));
});

test('per-module output shapes at 299×299 and at 75×75, and 5,713,216,096 multiply-adds at 299² (torchvision: 5.71 G)', () => {
  const g = graph({ arch: 'inception_v3' }, 'eval');
  const s = (v: string): number[] => [...g.shapes.get(g.taps[v]!)!];
  assert.deepEqual(s('Conv2d_1a_3x3'), [32, 149, 149]);
  assert.deepEqual(s('Conv2d_2b_3x3'), [64, 147, 147]);
  assert.deepEqual(s('maxpool1'), [64, 73, 73]);
  assert.deepEqual(s('Conv2d_4a_3x3'), [192, 71, 71]);
  assert.deepEqual(s('maxpool2'), [192, 35, 35]);
  const widths = [256, 288, 288, 768, 768, 768, 768, 768, 1280, 2048, 2048];
  const grid = [35, 35, 35, 17, 17, 17, 17, 17, 8, 8, 8];
  INCEPTION_V3_TABLE.forEach(([name], i) => assert.deepEqual(s(name), [widths[i], grid[i], grid[i]], name));
  assert.deepEqual(s('avg_pool'), [2048]);
  const summary = summarize(g);
  assert.equal(summary.macs, 5_713_216_096);
  assert.equal(summary.layers.find((r) => r.name === 'Mixed_7c')!.params, 6_076_800);
  const small = graph({ arch: 'inception_v3', inputSize: 75 }, 'eval');
  assert.deepEqual([...small.shapes.get(small.taps['Mixed_7c']!)!], [2048, 1, 1]);
});

test("train graphs carry AuxLogits as aux1 only with auxLogits; eval graphs never; without the top, 'features' only", () => {
  const outputs = (o: ModelOptions, mode: 'eval' | 'train') => Object.keys(graph(o, mode).outputs);
  assert.deepEqual(outputs({ arch: 'inception_v3', auxLogits: true }, 'train'), ['logits', 'aux1']);
  assert.deepEqual(outputs({ arch: 'inception_v3', auxLogits: true }, 'eval'), ['logits']);
  assert.deepEqual(outputs({ arch: 'inception_v3' }, 'train'), ['logits']);
  for (const [pooling, shape] of [
    ['avg', [2048]],
    ['max', [2048]],
    ['none', [2048, 8, 8]],
  ] as const) {
    const g = graph({ arch: 'inception_v3', includeTop: false, pooling }, 'eval');
    assert.deepEqual(Object.keys(g.outputs), ['features']);
    assert.deepEqual([...g.shapes.get(g.outputs['features']!)!], shape, pooling);
  }
  // GoogLeNet takes the Keras options too: its 1024-vector.
  const gg = graph({ preset: 'torchvision', includeTop: false, pooling: 'avg' }, 'eval');
  assert.deepEqual([...gg.shapes.get(gg.outputs['features']!)!], [1024]);
});

test('width scales every channel of every module; the narrow network keeps the names', () => {
  const g = graph({ arch: 'inception_v3', width: 0.125, auxLogits: true });
  assert.deepEqual(g.params.get('Mixed_6b.branch7x7_2.conv.weight')!.shape, [16, 16, 1, 7]);
  assert.deepEqual(g.params.get('AuxLogits.conv1.conv.weight')!.shape, [96, 16, 5, 5]);
  assert.deepEqual(g.params.get('fc.weight')!.shape, [1000, 256]);
});

test('bad options name the option, the value and the rule', () => {
  assert.throws(() => resolveConfig({ arch: 'inception_v4' as 'inception_v3' }), {
    message: 'arch: expected one of googlenet, inception_v3, received "inception_v4"',
  });
  assert.throws(() => resolveConfig({ arch: 'inception_v3', inputSize: 74 }), {
    message: 'inputSize: expected at least 75 for inception_v3, received 74',
  });
  assert.throws(() => resolveConfig({ arch: 'inception_v3', auxLogits: true, inputSize: 298 }), /at least 299 for inception_v3 with auxLogits/);
  assert.throws(() => resolveConfig({ arch: 'inception_v3', preset: 'torchvision' } as ModelOptions), /preset: expected a known option of inception_v3/);
  assert.throws(() => resolveConfig({ arch: 'inception_v3', pooling: 'avg' }), /pooling: expected 'none' with the top/);
  assert.throws(() => resolveConfig({ arch: 'inception_v3', includeTop: false, auxLogits: true }), /auxLogits: expected false without the top/);
  assert.throws(() => resolveConfig({ arch: 'inception_v3', includeTop: false, pooling: 'mean' as 'avg' }), {
    message: 'pooling: expected one of avg, max, none, received "mean"',
  });
});

test("a state dict's keys say its architecture", () => {
  const keys = (o: ModelOptions) => graph(o).params.keys();
  assert.equal(archOfStateDict(keys({ arch: 'inception_v3' })), 'inception_v3');
  assert.equal(archOfStateDict(keys({ preset: 'paper' })), 'googlenet');
  assert.equal(archOfStateDict(['a.weight']), undefined);
  assert.deepEqual(withArchOf({ numClasses: 10 }, keys({ arch: 'inception_v3' })), { numClasses: 10, arch: 'inception_v3' });
  assert.deepEqual(withArchOf({ preset: 'cifar' }, keys({ preset: 'cifar' })), { preset: 'cifar' });
});
