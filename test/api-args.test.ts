/**
 * The public API called from plain JavaScript with the wrong kind of argument — a bare typed
 * array where a tensor goes, a string for a number, null for options — throws a GoogLeNetError
 * that names the argument, never a TypeError from inside. Each case would have thrown a
 * TypeError (or run on garbage) before these checks existed.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import * as g from '../src/index.js';
import { REPO } from './cli-run.js';

const FM = join(REPO, 'models', 'fashion-mnist');
const tiny = (): g.GoogLeNet => new g.GoogLeNet({ preset: 'cifar', width: 0.125, numClasses: 10, inputSize: 32 });
const bare = new Float32Array(3 * 32 * 32);
const sgd = { optimizer: { type: 'sgd' as const, lr: 0.1 } };
/* eslint-disable @typescript-eslint/no-explicit-any -- wrong kinds on purpose, as plain JavaScript passes them */
const cases: [string, string, RegExp, () => unknown][] = [
  ['new GoogLeNet(null)', 'options', /received null/, () => new g.GoogLeNet(null as any)],
  ["new GoogLeNet({ numClasses: '10' })", 'numClasses', /received "10"/, () => new g.GoogLeNet({ numClasses: '10' as any })],
  ['forward(Float32Array)', 'input', /a tensor \{ dims, data \}, received a Float32Array of 3072/, () => tiny().forward(bare as any)],
  [
    'forward({ dims, data: [] })',
    'input',
    /data a Float32Array, received data an array of 2/,
    () => tiny().forward({ dims: [1, 3, 32, 32], data: [1, 2] } as any),
  ],
  ["forward({ dims: '1,3' })", 'input', /dims a list of non-negative integers/, () => tiny().forward({ dims: '1,3', data: bare } as any)],
  ['forwardHead(Float32Array)', 'features', /received a Float32Array/, () => tiny().forwardHead(bare as any)],
  ['infer(number)', 'input', /received number 7/, () => tiny().infer(7 as any)],
  ['step(Float32Array, labels)', 'input', /received a Float32Array of 3072/, () => g.createTrainStep(tiny(), sgd).step(bare as any, [1])],
  ["step(x, '1')", 'labels', /received "1"/, () => g.createTrainStep(tiny(), sgd).step(g.tensor([1, 3, 32, 32]), '1' as any)],
  [
    "createTrainStep(lr: '0.1')",
    'optimizer.lr',
    /received "0.1"/,
    () => g.createTrainStep(tiny(), { optimizer: { type: 'sgd', lr: '0.1' as any } }),
  ],
  ['calibrate(model, 5)', 'calibrate', /iterable of tensors, received number 5/, () => g.calibrate(tiny(), 5 as any)],
  ['calibrate(model, [Float32Array])', 'calibrate', /received a Float32Array/, () => g.calibrate(tiny(), [bare as any])],
  ['classify(42)', 'images', /received number 42/, async () => (await g.load(FM)).classify(42 as any)],
  ["classify(image, '3')", 'k', /received "3"/, async () => (await g.load(FM)).classify(g.tensor([1, 1, 28, 28]), '3' as any)],
  ['topK([1, 2, 3], 2)', 'logits', /received an array of 3/, () => g.topK([1, 2, 3] as any, 2)],
  ["topK(logits, '2')", 'k', /received "2"/, () => g.topK(g.tensor([1, 3]), '2' as any)],
  ["tensor('1,2')", 'dims', /received "1,2"/, () => g.tensor('1,2' as any)],
  ['tensor([2], [1, 2])', 'data', /received an array of 2/, () => g.tensor([2], [1, 2] as any)],
  ['load(42)', 'source', /received number 42/, () => g.load(42 as any)],
  ['load({})', 'source', /received an object/, () => g.load({} as any)],
  ['loadModelDir(42)', 'model', /received number 42/, () => g.loadModelDir(42 as any)],
  ["summarize('cifar')", 'graph', /received "cifar"/, () => g.summarize('cifar' as any)],
  ['gradCam(Float32Array)', 'input', /received a Float32Array of 3072/, () => tiny().gradCam(bare as any)],
  ['explain(42)', 'images', /received number 42/, async () => (await g.load(FM)).explain(42 as any)],
  ['explain(image, null)', 'options', /received null/, async () => (await g.load(FM)).explain(g.tensor([1, 1, 28, 28]), null as any)],
  [
    "explain(image, { classIndex: '3' })",
    'classIndex',
    /received "3"/,
    async () => (await g.load(FM)).explain(g.tensor([1, 1, 28, 28]), { classIndex: '3' as any }),
  ],
  [
    'explain(image, { layer: 5 })',
    'layer',
    /unknown tap 5/,
    async () => (await g.load(FM)).explain(g.tensor([1, 1, 28, 28]), { layer: 5 as any }),
  ],
  [
    'explain(image, { branches: 5 })',
    'branches',
    /received number 5/,
    async () => (await g.load(FM)).explain(g.tensor([1, 1, 28, 28]), { branches: 5 as any }),
  ],
  ["resetClassifier('5')", 'numClasses', /received "5"/, () => tiny().resetClassifier('5' as any)],
  ["setLimits({ maxImagePixels: '5' })", 'maxImagePixels', /received "5"/, () => g.setLimits({ maxImagePixels: '5' as any })],
];
/* eslint-enable @typescript-eslint/no-explicit-any */
const images: [string, RegExp, () => unknown][] = [
  ["resize('x', 3, 3)", /received "x"/, () => g.resize('x' as never, 3, 3)],
  [
    'preprocess({ data: number[] })',
    /image data must be a Uint8Array/,
    () => g.preprocess({ width: 1, height: 1, channels: 1, data: [0] } as never),
  ],
];

test('wrong kinds of argument from JavaScript: a typed error naming the argument', async () => {
  for (const [call, option, message, run] of cases) {
    await assert.rejects(
      async () => run(),
      (e: unknown) => {
        assert.ok(e instanceof g.OptionError, `${call}: ${String(e)}`);
        assert.equal(e.option, option, `${call}: option`);
        assert.match(e.message, message, call);
        assert.ok(e.message.startsWith(`${option}:`) || e.message.includes(`${option}`), `${call}: the message names ${option}`);
        return true;
      },
    );
  }
  for (const [call, message, run] of images) {
    await assert.rejects(
      async () => run(),
      (e: unknown) => e instanceof g.ImageError && message.test(e.message),
      call,
    );
  }
});
