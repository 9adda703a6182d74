/**
 * Sessions and buffers are created once and reused (tfjs-models' leak tests): across many
 * predictions with one model, resident memory and the number of open ONNX Runtime sessions stay
 * flat; `invalidate()` and train-mode passes release the sessions they replace (a train-mode pass
 * reuses its own); `dispose()` releases the rest. Sessions are counted by an engine that wraps
 * the Node engine (the public `engine` option) and, for the model's own cache, by reading its
 * private session cache.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { load, type NodeClassifier } from '../src/index.js';
import type { RgbImage } from '../src/image/image.js';
import type { GoogLeNet } from '../src/models/model.js';
import { nodeEngine } from '../src/runtime/engine-node.js';
import type { Engine } from '../src/runtime/engine.js';

const MB = 1 << 20;

/** Counts sessions created and released through it. */
const counted = { created: 0, released: 0 };
const countingEngine: Engine = {
  name: `${nodeEngine.name}, counted`,
  device: 'cpu',
  resolve: () => Promise.resolve(countingEngine),
  async createSession(model, options) {
    const s = await nodeEngine.createSession(model, options);
    counted.created++;
    let released = false;
    return {
      inputNames: s.inputNames,
      outputNames: s.outputNames,
      run: (feeds, outputs) => s.run(feeds, outputs),
      async release() {
        assert.ok(!released, 'a session is released twice');
        released = true;
        counted.released++;
        await s.release();
      },
    };
  },
};
const open = (): number => counted.created - counted.released;

/** The model's session cache (private; read for this test only). */
const cached = (m: GoogLeNet): number => (m as unknown as { sessions: { size: number } }).sessions.size;

/** A full garbage collection, when V8 lets us ask for one (flag set at run time). */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('typeof gc === "function" ? gc : undefined') as (() => void) | undefined;

/** Lets pending releases (started without awaiting by `invalidate()`) finish. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

async function rss(): Promise<number> {
  await settle();
  gc?.();
  return process.memoryUsage().rss;
}

let net: NodeClassifier;
let image: RgbImage;

before(async () => {
  net = await load(
    { random: true, preset: 'cifar', width: 0.25, numClasses: 10, auxLogits: true, seed: 5 },
    { engine: countingEngine, threads: 1 },
  );
  const data = new Uint8Array(40 * 36 * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + (i >> 5)) & 255;
  image = { width: 40, height: 36, channels: 3, data };
});

after(async () => {
  await net.model.dispose();
});

test('60 predictions with one model: one session, flat RSS', async (t) => {
  for (let i = 0; i < 10; i++) await net.classify(image, 3); // warm-up: session, arenas, JIT
  assert.equal(cached(net.model), 1);
  assert.equal(counted.created, 1);
  const before = await rss();
  let first: number | undefined;
  for (let i = 0; i < 60; i++) {
    const [top] = await net.classify(image, 3);
    first ??= top![0]!.index;
    assert.equal(top![0]!.index, first, 'the same image gets the same answer');
  }
  const growth = ((await rss()) - before) / MB;
  assert.equal(counted.created, 1, 'no session created after the first');
  assert.equal(open(), 1);
  assert.equal(cached(net.model), 1);
  t.diagnostic(`RSS growth over 60 predictions: ${growth.toFixed(1)} MB${gc ? '' : ' (no gc available)'}`);
  assert.ok(growth < 50, `RSS grew ${growth.toFixed(1)} MB over 60 predictions`);
});

test('invalidate() + forward, repeated: replaced sessions are released', async (t) => {
  const x = net.toInput(image);
  const start = await rss();
  for (let i = 0; i < 30; i++) {
    net.model.invalidate();
    assert.equal(cached(net.model), 0);
    await net.model.forward(x);
    assert.equal(cached(net.model), 1);
  }
  await settle();
  assert.equal(open(), 1, `${open()} sessions open after 30 invalidations`);
  const growth = ((await rss()) - start) / MB;
  t.diagnostic(`RSS growth over 30 invalidations: ${growth.toFixed(1)} MB`);
  assert.ok(growth < 50, `RSS grew ${growth.toFixed(1)} MB over 30 invalidations`);
});

test('train-mode passes and taps do not accumulate sessions; dispose() releases every one', async () => {
  const x = net.toInput([image, image]);
  const start = counted.created;
  for (let i = 0; i < 8; i++) {
    const out = await net.model.forward(x, { training: true });
    assert.ok(out.aux1 && out.aux2);
    await net.infer(image, { taps: ['pool5'] });
    await net.classify(image);
  }
  await settle();
  // One train-mode session for all eight passes (its weights are fed, not compiled in); the two
  // eval sessions fold in the running statistics that each pass moves, so each pass replaces them.
  assert.equal(counted.created - start, 1 + 2 * 8);
  assert.ok(
    open() <= 3 && cached(net.model) <= 3,
    `${open()} sessions open, ${cached(net.model)} cached (one per mode: train, eval, eval with taps)`,
  );
  assert.equal(open(), cached(net.model), 'every open session is in the cache');
  await net.model.dispose();
  assert.equal(cached(net.model), 0);
  assert.equal(open(), 0, 'dispose() releases every session');
});
