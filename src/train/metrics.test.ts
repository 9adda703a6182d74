import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setLimits } from '../limits.js';
import { RunningMean } from './metrics.js';
import { MetricsLog, readMetrics } from './metrics-node.js';

const dir = mkdtempSync(join(tmpdir(), 'metrics-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('metrics.jsonl: one object per line with epoch, step and loss; epoch lines carry top1', () => {
  const log = new MetricsLog(join(dir, 'run', 'metrics.jsonl'));
  log.append({ type: 'step', epoch: 0, step: 5, loss: 2.1, acc: 0.2, lr: 1e-3, imgPerSec: 90, time: 1 });
  log.append({
    type: 'epoch',
    epoch: 0,
    step: 10,
    loss: 1.9,
    acc: 0.3,
    lr: 1e-3,
    top1: 0.42,
    top5: 0.9,
    valLoss: 1.7,
    seconds: 3,
    imgPerSec: 95,
  });
  const lines = readFileSync(log.path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 2);
  for (const l of lines) for (const k of ['epoch', 'step', 'loss']) assert.equal(typeof l[k], 'number', `${k} in ${JSON.stringify(l)}`);
  assert.equal(lines[1]!.top1, 0.42);
});

test('truncateAfter drops what an interrupted run logged after its checkpoint; a torn last line is skipped', () => {
  const log = new MetricsLog(join(dir, 'm2.jsonl'));
  for (let s = 1; s <= 6; s++) log.append({ type: 'step', epoch: 0, step: s, loss: 1, acc: 0, lr: 1, imgPerSec: 1, time: s });
  appendFileSync(log.path, '{"type":"step","epo');
  assert.equal(readMetrics(log.path).length, 6);
  log.truncateAfter(4);
  assert.deepEqual(
    readMetrics(log.path).map((r) => r.step),
    [1, 2, 3, 4],
  );
  assert.ok(readFileSync(log.path, 'utf8').endsWith('}\n'));
});

test('a line longer than maxJsonBytes is skipped unparsed (nested arrays would take ~50× their size)', () => {
  const path = join(dir, 'm3.jsonl');
  const before = setLimits({ maxJsonBytes: 1000 });
  try {
    writeFileSync(path, `{"type":"step","epoch":0,"step":1}\n${'['.repeat(600)}${']'.repeat(600)}\n{"type":"step","epoch":0,"step":2}\n`);
    assert.deepEqual(
      readMetrics(path).map((r) => r.step),
      [1, 2],
    );
  } finally {
    setLimits(before);
  }
});

test('running means are weighted by batch size', () => {
  const m = new RunningMean();
  assert.ok(Number.isNaN(m.loss));
  m.add(2, 10, 10);
  m.add(1, 30, 30);
  assert.equal(m.loss, (2 * 10 + 1 * 30) / 40);
  assert.equal(m.acc, 1);
  assert.equal(m.steps, 2);
  m.reset();
  assert.equal(m.count, 0);
});
