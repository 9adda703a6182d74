/**
 * The trainer's bookkeeping with a stand-in training step (fast, deterministic): interrupt and
 * resume give the same weights, a NaN loss stops without touching the last checkpoint, a failed
 * checkpoint write keeps the previous one, the run folder is a model directory. The real engine
 * runs through the CLI in test/train-e2e.test.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import '../runtime/engine-node.js';
import type { GoogLeNet } from '../models/model.js';
import type { Tensor } from '../tensor.js';
import { loadModelDir } from '../weights/model-dir-node.js';
import type { FileIo as CheckpointIo } from '../files-node.js';
import { loadCheckpoint } from './checkpoint-node.js';
import type { TrainOptions } from './config.js';
import type { OptimizerState } from './engine.js';
import type { StepFactory, TrainStepLike } from './loop.js';
import { train } from './train-node.js';
import { readMetrics } from './metrics-node.js';

const dir = fs.mkdtempSync(join(tmpdir(), 'loop-test-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Moves fc.bias by lr × (batch pixel mean + label mean); a momentum-like buffer makes the optimizer state matter. */
class FakeStep implements TrainStepLike {
  t = 0;
  buf: Float32Array;
  constructor(
    private readonly model: GoogLeNet,
    private readonly hook: (t: number) => number | void,
  ) {
    this.buf = new Float32Array((model.weights.get('fc.bias') as Float32Array).length);
  }
  async step(x: Tensor, y: Int32Array, o: { lr: number }): Promise<{ loss: number; correct: number }> {
    this.t++;
    let mean = 0;
    for (let i = 0; i < x.data.length; i += 97) mean += x.data[i]!;
    const g = mean / Math.ceil(x.data.length / 97) + y.reduce((a, b) => a + b, 0) / y.length;
    const bias = this.model.weights.get('fc.bias') as Float32Array;
    for (let i = 0; i < bias.length; i++) {
      this.buf[i] = 0.9 * this.buf[i]! + g * (i + 1);
      bias[i]! -= o.lr * this.buf[i]!;
    }
    const forced = this.hook(this.t);
    this.model.invalidate(); // the weights changed in place (the engine's step does this by itself)
    return { loss: forced ?? 2 / this.t, correct: Math.min(y.length, this.t) };
  }
  optimizerState(): OptimizerState {
    return { type: 'adam', step: this.t, state: new Map([['exp_avg.fc.bias', Float32Array.from(this.buf)]]) };
  }
  loadOptimizerState(s: OptimizerState): void {
    this.t = s.step;
    this.buf = Float32Array.from(s.state.get('exp_avg.fc.bias')!);
  }
  dispose(): void {}
}

const fake =
  (hook: (t: number) => number | void = () => undefined): StepFactory =>
  (m) =>
    new FakeStep(m, hook);

const base = (out: string, extra: Partial<TrainOptions> = {}): TrainOptions => ({
  dataset: 'fashion-mnist-subset',
  out: join(dir, out),
  width: 0.0625,
  epochs: 2,
  batchSize: 20,
  limitTrain: 60,
  limitTest: 40,
  lr: 0.01,
  ema: 0.9,
  seed: 3,
  workers: 0,
  ...extra,
});

const quiet = { progress: 'none' as const };

function bias(run: string): number[] {
  return Array.from(loadCheckpoint(join(dir, run, 'checkpoint.safetensors')).weights.get('fc.bias') as Float32Array);
}

test('an interrupted run (SIGINT mid-epoch) resumed ends with the same weights, EMA and metrics as an uninterrupted one', async () => {
  const full = await train(base('full'), { ...quiet, createStep: fake() });
  assert.equal(full.status, 'completed');
  assert.deepEqual(full.position, { epoch: 2, batch: 0, step: 6 });

  const stop = new AbortController(); // what the CLI aborts on SIGINT
  const cut = await train(base('cut'), { ...quiet, signal: stop.signal, createStep: fake((t) => void (t === 4 && stop.abort('SIGINT'))) });
  assert.equal(cut.status, 'interrupted');
  assert.deepEqual(loadCheckpoint(join(dir, 'cut', 'checkpoint.safetensors')).position, { epoch: 1, batch: 1, step: 4 });
  const resumed = await train({ ...base('cut'), resume: true }, { ...quiet, createStep: fake() });
  assert.equal(resumed.status, 'completed');
  assert.deepEqual(bias('cut'), bias('full'));
  const ema = (run: string): number[] =>
    Array.from(loadCheckpoint(join(dir, run, 'checkpoint.safetensors')).ema!.shadow.get('fc.bias') as Float32Array);
  assert.deepEqual(ema('cut'), ema('full'));
  const strip = (run: string): unknown[] =>
    readMetrics(join(dir, run, 'metrics.jsonl')).map((r) => ({ ...r, time: 0, imgPerSec: 0, ...('seconds' in r ? { seconds: 0 } : {}) }));
  assert.deepEqual(strip('cut'), strip('full'), 'the resumed metrics.jsonl reads as one run');
  // the run folder is a model directory with the dataset's labels and preprocessing
  const m = loadModelDir(join(dir, 'full'));
  assert.equal(m.labels?.[9], 'Ankle boot');
  assert.deepEqual(m.preprocess, { resize: 28, crop: 28, mean: [0.286], std: [0.353] });
  assert.ok(fs.existsSync(join(dir, 'full', 'ema', 'model.safetensors')));
  for (const f of ['loss.png', 'loss.svg', 'accuracy.png', 'confusion.png', 'confusion.json', 'eval.json', 'run.json'])
    assert.ok(fs.existsSync(join(dir, 'full', f)), f);
});

test('a NaN loss stops the run with a message and leaves the last good checkpoint', async () => {
  await assert.rejects(train(base('nan'), { ...quiet, createStep: fake((t) => (t === 5 ? NaN : undefined)) }), (e: Error) => {
    assert.equal(e.name, 'TrainingDivergedError');
    assert.match(
      e.message,
      /^loss is NaN at epoch 2, step 5 \(lr 1\.00e-2\); training stopped\. The last good checkpoint .*checkpoint\.safetensors \(step 3\) is unchanged\. Try a lower --lr or --clip-grad-norm\.$/,
    );
    return true;
  });
  assert.deepEqual(loadCheckpoint(join(dir, 'nan', 'checkpoint.safetensors')).position, { epoch: 1, batch: 0, step: 3 });
  const r = await train({ ...base('nan'), resume: true }, { ...quiet, createStep: fake() });
  assert.equal(r.status, 'completed');
});

test('a checkpoint write that fails (disk full) keeps the previous checkpoint and says so', async () => {
  let writes = 0;
  const io: CheckpointIo = {
    openSync: fs.openSync,
    writeSync: (fd, b, o, l) => {
      if (++writes > 1 && l > 10000) {
        const e = new Error('no space left on device') as NodeJS.ErrnoException;
        e.code = 'ENOSPC';
        throw e;
      }
      return fs.writeSync(fd, b, o, l);
    },
    fsyncSync: fs.fsyncSync,
    closeSync: fs.closeSync,
    renameSync: fs.renameSync,
    rmSync: fs.rmSync,
  };
  await assert.rejects(
    train(base('full-disk'), { ...quiet, createStep: fake(), checkpointIo: io }),
    /checkpoint\.safetensors: cannot write checkpoint \(ENOSPC: no space left on device\); the previous checkpoint is unchanged/,
  );
  assert.deepEqual(loadCheckpoint(join(dir, 'full-disk', 'checkpoint.safetensors')).position, { epoch: 1, batch: 0, step: 3 });
  assert.deepEqual(
    fs.readdirSync(join(dir, 'full-disk')).filter((f) => f.endsWith('.tmp')),
    [],
  );
});

test('bad options: one message naming the option', async () => {
  // The library names the field (`batchSize`), the CLI the flag (test/train-e2e.test.ts); each
  // check's words are its one declaration's (src/train/options.ts), e.g. "an integer ≥ 1".
  const cases: [Partial<TrainOptions>, RegExp][] = [
    [
      { dataset: 'imagenet' as 'mnist' },
      /^dataset: expected one of fashion-mnist, mnist, cifar10, cifar100, folder, fashion-mnist-subset, received "imagenet"$/,
    ],
    [{ batchSize: 0 }, /^batchSize: expected an integer ≥ 1, received 0$/],
    [{ epochs: -1 }, /^epochs: expected an integer ≥ 1, received -1$/],
    [{ lr: 0 }, /^lr: expected a positive number, received 0$/],
    [{ width: 5 }, /^width: expected a number in \(0, 4\], received 5$/],
    [{ ema: 1 }, /^ema: expected a decay in \(0, 1\), received 1$/],
    [{ freezeBackbone: true }, /^freezeBackbone: expected a pretrained model to freeze \(from\), received true$/],
    [
      { resume: true, out: join(dir, 'never') },
      /^--resume: no checkpoint at .*never\/checkpoint\.safetensors \(drop --resume to start a new run\)$/,
    ],
    [
      { out: join(dir, 'full') },
      /^--out: .*full already holds a run \(checkpoint\.safetensors\); pass --resume to continue it, or choose another folder$/,
    ],
    [{ valHoldout: 5000 }, /^--val-holdout: expected fewer than the 3000 training images, received 5000$/],
  ];
  for (const [extra, msg] of cases) {
    await assert.rejects(train({ ...base('bad'), ...extra }, { ...quiet, createStep: fake() }), (e: Error) => {
      assert.match(e.message, msg);
      return true;
    });
  }
});

test('weights that went Inf while the loss stayed finite stop the run: never validated, published or checkpointed (issue 12)', async () => {
  // Step 5 (epoch 2) fills a batch-norm running_var with Inf, as SGD at lr 1e6 does.
  const poison: StepFactory = (m) =>
    new FakeStep(m, (t) => {
      if (t === 5) (m.weights.get([...m.weights.keys()].find((k) => k.endsWith('running_var'))!) as Float32Array).fill(Infinity);
    });
  await assert.rejects(train(base('inf-stats'), { ...quiet, createStep: poison }), (e: Error) => {
    assert.equal(e.name, 'TrainingDivergedError');
    assert.match(
      e.message,
      /^".*running_var" holds NaN or Infinity after step 6; training stopped\. The last good checkpoint .*checkpoint\.safetensors \(step 3\) is unchanged\./,
    );
    return true;
  });
  const saved = loadCheckpoint(join(dir, 'inf-stats', 'checkpoint.safetensors'));
  assert.deepEqual(saved.position, { epoch: 1, batch: 0, step: 3 });
  for (const [k, v] of saved.weights) if (v instanceof Float32Array) assert.ok(v.every(Number.isFinite), `${k} is finite`);
});

test('an exploding (finite) loss is warned about once; a plot failure never costs the checkpoint (issue 12)', async () => {
  const lines: string[] = [];
  const out = base('explode', { epochs: 1 });
  // A folder where the curves should go makes the SVG write fail.
  fs.mkdirSync(join(out.out, 'loss.svg'), { recursive: true });
  const r = await train(out, { progress: 'plain', write: (s) => lines.push(s), createStep: fake((t) => (t >= 2 ? 1e12 : undefined)) });
  assert.equal(r.status, 'completed');
  const text = lines.join('');
  assert.equal(text.match(/warning: the loss is 1\.00e\+12 at step 2/g)?.length, 1, text);
  assert.match(text, /warning: could not write the training curves \(.*loss\.svg.*\); training goes on/);
  assert.deepEqual(loadCheckpoint(join(out.out, 'checkpoint.safetensors')).position, { epoch: 1, batch: 0, step: 3 });
});

test('resume removes the temporary files of interrupted atomic writes (issue 12)', async () => {
  await train(base('orphans', { epochs: 1 }), { ...quiet, createStep: fake() });
  const orphan = join(dir, 'orphans', '.checkpoint.safetensors.12345.abc123.tmp');
  fs.writeFileSync(orphan, 'half a checkpoint');
  const keep = join(dir, 'orphans', 'notes.tmp');
  fs.writeFileSync(keep, 'not ours');
  await train({ ...base('orphans', { epochs: 2 }), resume: true }, { ...quiet, createStep: fake() });
  assert.ok(!fs.existsSync(orphan), 'the orphaned temporary file is gone');
  assert.ok(fs.existsSync(keep), 'other files stay');
});

test('the very first checkpoint write failing (disk full) does not claim a previous checkpoint (issue 12)', async () => {
  const io: CheckpointIo = {
    openSync: fs.openSync,
    writeSync: () => {
      const e = new Error('no space left on device') as NodeJS.ErrnoException;
      e.code = 'ENOSPC';
      throw e;
    },
    fsyncSync: fs.fsyncSync,
    closeSync: fs.closeSync,
    renameSync: fs.renameSync,
    rmSync: fs.rmSync,
  };
  await assert.rejects(
    train(base('first-full'), { ...quiet, createStep: fake(), checkpointIo: io }),
    /first-full\/checkpoint\.safetensors: cannot write checkpoint \(ENOSPC: no space left on device\); nothing was written$/,
  );
  assert.ok(!fs.existsSync(join(dir, 'first-full', 'checkpoint.safetensors')));
});
