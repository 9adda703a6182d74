import assert from 'node:assert/strict';
import { test } from 'node:test';
import { learningRate, scheduleCurve, validateSchedule, type ScheduleConfig } from './schedule.js';

const base = { lr: 0.1, stepsPerEpoch: 10, epochs: 40 } as const;
const close = (a: number, b: number, msg?: string): void =>
  assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${msg ?? ''} ${a} ≠ ${b}`);

test('constant: the same lr at every step', () => {
  const c: ScheduleConfig = { type: 'constant', ...base };
  for (const s of [0, 1, 57, 399]) assert.equal(learningRate(c, { step: s }), 0.1);
});

test("step: the paper's ×0.96 every 8 epochs", () => {
  const c: ScheduleConfig = { type: 'step', ...base };
  close(learningRate(c, { step: 0 }), 0.1);
  close(learningRate(c, { step: 79 }), 0.1, 'last step of epoch 7');
  close(learningRate(c, { step: 80 }), 0.1 * 0.96, 'first step of epoch 8');
  close(learningRate(c, { step: 160 }), 0.1 * 0.96 ** 2);
  close(learningRate(c, { step: 399 }), 0.1 * 0.96 ** 4);
  // the explicit epoch wins over step / stepsPerEpoch
  close(learningRate(c, { step: 0, epoch: 16 }), 0.1 * 0.96 ** 2);
  const g: ScheduleConfig = { type: 'step', ...base, gamma: 0.5, decayEvery: 1 };
  close(learningRate(g, { step: 25 }), 0.1 * 0.25);
});

test('cosine with warm-up: linear ramp, peak, half-way, monotone decay to minLr', () => {
  const c: ScheduleConfig = { type: 'cosine', ...base, warmupEpochs: 2, minLr: 0.001 };
  const w = 20; // warm-up steps
  close(learningRate(c, { step: 0 }), 0.1 / w);
  close(learningRate(c, { step: 9 }), (0.1 * 10) / w);
  close(learningRate(c, { step: w - 1 }), 0.1);
  close(learningRate(c, { step: w }), 0.1, 'cosine starts at the peak');
  const total = 400 - w;
  close(learningRate(c, { step: w + total / 2 }), 0.001 + (0.1 - 0.001) * 0.5, 'half-way');
  const curve = scheduleCurve(c);
  assert.equal(curve.length, 400);
  for (let s = w + 1; s < 400; s++) assert.ok(curve[s]! <= curve[s - 1]!, `not decreasing at ${s}`);
  assert.ok(curve[399]! > 0.001 && curve[399]! < 0.0011, `last step ${curve[399]} is just above minLr`);
});

test('pure: the same position gives the same lr (a resumed run asks again)', () => {
  const c: ScheduleConfig = { type: 'cosine', ...base, warmupEpochs: 0.5 };
  const a = scheduleCurve(c);
  const b = Array.from({ length: 400 }, (_, s) => learningRate(c, { step: s }));
  assert.deepEqual(Array.from(a), b);
});

test('validation names the field and the value', () => {
  assert.throws(
    () => validateSchedule({ type: 'linear' as 'step', ...base }),
    /schedule type: expected one of constant, step, cosine, received "linear"/,
  );
  assert.throws(() => validateSchedule({ type: 'step', ...base, lr: 0 }), /schedule lr: expected a positive number, received 0/);
  assert.throws(
    () => validateSchedule({ type: 'step', ...base, gamma: 1.5 }),
    /schedule gamma: expected a number in \(0, 1\], received 1.5/,
  );
  assert.throws(
    () => validateSchedule({ type: 'cosine', ...base, minLr: 1 }),
    /schedule minLr: expected a number in \[0, lr = 0.1\], received 1/,
  );
  assert.throws(
    () => validateSchedule({ type: 'cosine', ...base, stepsPerEpoch: 0 }),
    /stepsPerEpoch: expected a positive integer, received 0/,
  );
});
