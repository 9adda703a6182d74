import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { saveSafetensorsFile } from '../weights/safetensors-node.js';
import type { FileIo as CheckpointIo } from '../files-node.js';
import { CHECKPOINT_VERSION, decodeState, encodeCheckpoint, encodeState, type Checkpoint } from './checkpoint.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint-node.js';

const dir = fs.mkdtempSync(join(tmpdir(), 'ckpt-test-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function sample(step: number): Checkpoint<{ lr: number; name: string }> {
  const f = (n: number, v: number): Float32Array => new Float32Array(n).fill(v);
  return {
    position: { epoch: 1, batch: 3, step },
    rng: [1, 2, 3, 4],
    config: { lr: 0.01, name: 'run' },
    best: { top1: 0.5, epoch: 0, step: 10, weights: 'raw' },
    weights: new Map<string, Float32Array | BigInt64Array>([
      ['conv.weight', f(12, step)],
      ['bn.num_batches_tracked', BigInt64Array.of(BigInt(step))],
    ]),
    shapes: new Map([
      ['conv.weight', [2, 1, 2, 3]],
      ['bn.num_batches_tracked', []],
    ]),
    optimizer: {
      type: 'adam',
      step,
      state: new Map([
        ['exp_avg.conv.weight', f(12, 0.5)],
        ['exp_avg_sq.conv.weight', f(12, 0.25)],
      ]),
    },
    ema: {
      decay: 0.99,
      warmup: true,
      steps: step,
      shadow: new Map<string, Float32Array | BigInt64Array>([
        ['conv.weight', f(12, -1)],
        ['bn.num_batches_tracked', BigInt64Array.of(7n)],
      ]),
    },
    loop: { epochLossSum: 1.5, elapsed: 12 },
  };
}

test('round trip: weights with their shapes, optimizer state, EMA, position, RNG, config, best', () => {
  const p = join(dir, 'a.safetensors');
  saveCheckpoint(p, sample(42));
  const c = loadCheckpoint<{ lr: number; name: string }>(p);
  assert.deepEqual(c.position, { epoch: 1, batch: 3, step: 42 });
  assert.deepEqual(c.rng, [1, 2, 3, 4]);
  assert.deepEqual(c.config, { lr: 0.01, name: 'run' });
  assert.deepEqual(c.best, { top1: 0.5, epoch: 0, step: 10, weights: 'raw' });
  assert.deepEqual(c.loop, { epochLossSum: 1.5, elapsed: 12 });
  assert.deepEqual(Array.from(c.weights.get('conv.weight') as Float32Array), new Array(12).fill(42));
  assert.deepEqual(c.shapes!.get('conv.weight'), [2, 1, 2, 3]);
  assert.equal((c.weights.get('bn.num_batches_tracked') as BigInt64Array)[0], 42n);
  const opt = c.optimizer as { type: string; step: number; state: Map<string, Float32Array> };
  assert.equal(opt.type, 'adam');
  assert.equal(opt.step, 42);
  assert.ok(opt.state instanceof Map);
  assert.deepEqual(Array.from(opt.state.get('exp_avg_sq.conv.weight')!), new Array(12).fill(0.25));
  assert.equal(c.ema!.decay, 0.99);
  assert.equal(c.ema!.steps, 42);
  assert.deepEqual(Array.from(c.ema!.shadow.get('conv.weight') as Float32Array), new Array(12).fill(-1));
  assert.match(c.savedAt!, /^\d{4}-\d\d-\d\dT/);
});

test('tensor-aware state encoding: typed arrays, Maps, nested objects, bigint, non-finite numbers', () => {
  const tensors = new Map();
  const v = {
    a: Float64Array.of(1, 2),
    m: new Map([['x', Int32Array.of(3)]]),
    list: [Uint8Array.of(9), 1, 'z', null],
    big: 5n,
    inf: -Infinity,
  };
  const back = decodeState(JSON.parse(JSON.stringify(encodeState(v, 'optim', tensors))), tensors) as typeof v;
  assert.deepEqual(Array.from(back.a), [1, 2]);
  assert.ok(back.a instanceof Float64Array);
  assert.deepEqual(Array.from(back.m.get('x')!), [3]);
  assert.deepEqual([Array.from(back.list[0] as Uint8Array), ...back.list.slice(1)], [[9], 1, 'z', null]);
  assert.equal(back.big, 5n);
  assert.equal(back.inf, -Infinity);
});

/** File-system calls that fail at a chosen point, like a disk that fills up. */
function failingIo(at: 'write' | 'fsync' | 'rename'): CheckpointIo {
  const enospc = (): never => {
    const e = new Error('no space left on device') as NodeJS.ErrnoException;
    e.code = 'ENOSPC';
    throw e;
  };
  return {
    openSync: fs.openSync,
    writeSync: (fd, b, o, l) => {
      if (at !== 'write') return fs.writeSync(fd, b, o, l);
      fs.writeSync(fd, b, o, Math.min(l, 1000)); // part of the bytes land, then the disk is full
      return enospc();
    },
    fsyncSync: at === 'fsync' ? enospc : fs.fsyncSync,
    closeSync: fs.closeSync,
    renameSync: at === 'rename' ? () => enospc() : fs.renameSync,
    rmSync: fs.rmSync,
  };
}

for (const at of ['write', 'fsync', 'rename'] as const) {
  test(`a failed write (${at}: disk full) leaves the previous checkpoint byte for byte, and no temporary file`, () => {
    const d = fs.mkdtempSync(join(dir, `fail-${at}-`));
    const p = join(d, 'checkpoint.safetensors');
    saveCheckpoint(p, sample(1));
    const before = fs.readFileSync(p);
    assert.throws(
      () => saveCheckpoint(p, sample(2), failingIo(at)),
      (e: Error) =>
        e.name === 'CheckpointWriteError' &&
        e.message === `${p}: cannot write checkpoint (ENOSPC: no space left on device); the previous checkpoint is unchanged`,
    );
    assert.deepEqual(fs.readFileSync(p), before);
    assert.deepEqual(fs.readdirSync(d), ['checkpoint.safetensors']);
    assert.equal(loadCheckpoint(p).position.step, 1);
  });
}

test('a write into a folder that cannot hold files fails with one line naming the file', () => {
  const notDir = join(dir, 'plain-file');
  fs.writeFileSync(notDir, 'x');
  const p = join(notDir, 'checkpoint.safetensors');
  assert.throws(
    () => saveCheckpoint(p, sample(1)),
    new RegExp(`^CheckpointWriteError: ${p.replace(/[.]/g, '\\.')}: cannot write checkpoint \\(ENOTDIR: `),
  );
});

test('reading: missing, truncated, a model file instead of a checkpoint, a newer version', () => {
  assert.throws(() => loadCheckpoint(join(dir, 'nope.safetensors')), /nope\.safetensors: no checkpoint to resume from \(no such file\)/);
  const bytes = encodeCheckpoint(sample(3));
  const cut = join(dir, 'cut.safetensors');
  fs.writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
  assert.throws(() => loadCheckpoint(cut), /cut\.safetensors: .*(truncated|outside)/);
  const model = join(dir, 'model.safetensors');
  saveSafetensorsFile(model, new Map([['fc.weight', { dtype: 'F32', dims: [1], data: Float32Array.of(1) }]]));
  assert.throws(() => loadCheckpoint(model), /model\.safetensors: not a googlenet-ts checkpoint/);
  const newer = join(dir, 'newer.safetensors');
  const text = Buffer.from(bytes)
    .toString('latin1')
    .replace(`\\"version\\":${CHECKPOINT_VERSION}`, `\\"version\\":${CHECKPOINT_VERSION + 1}`);
  assert.notEqual(text, Buffer.from(bytes).toString('latin1'), 'the version field was found');
  fs.writeFileSync(newer, Buffer.from(text, 'latin1'));
  assert.throws(() => loadCheckpoint(newer), /newer\.safetensors: checkpoint version 2 is newer than this googlenet-ts reads \(1\)/);
});
