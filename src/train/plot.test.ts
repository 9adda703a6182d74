import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import type { MetricsRecord } from './metrics.js';
import { writeTrainingPlots } from './plot-node.js';
import { trainingCharts } from './plot.js';

const dir = mkdtempSync(join(tmpdir(), 'plot-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('training plots from metrics records: loss and accuracy, SVG and PNG', async () => {
  const records: MetricsRecord[] = [];
  for (let e = 0; e < 3; e++) {
    for (let s = 1; s <= 4; s++)
      records.push({
        type: 'step',
        epoch: e,
        step: e * 4 + s,
        loss: 2 - 0.1 * (e * 4 + s),
        acc: 0.1 * e,
        lr: 1e-3,
        imgPerSec: 100,
        time: s,
      });
    records.push({
      type: 'epoch',
      epoch: e,
      step: (e + 1) * 4,
      loss: 1.8 - 0.3 * e,
      acc: 0.3 + 0.2 * e,
      lr: 1e-3,
      top1: 0.4 + 0.2 * e,
      top5: 0.9,
      valLoss: 1.5 - 0.2 * e,
      emaTop1: 0.45 + 0.2 * e,
      seconds: 1,
      imgPerSec: 100,
    });
  }
  const c = trainingCharts(records, 4);
  assert.match(c.loss, /validation loss/);
  assert.match(c.accuracy, /EMA validation top-1/);
  const files = await writeTrainingPlots(dir, records, 4);
  assert.deepEqual(
    files.map((f) => f.slice(dir.length + 1)),
    ['loss.svg', 'loss.png', 'accuracy.svg', 'accuracy.png'],
  );
  const png = readFileSync(join(dir, 'loss.png'));
  assert.deepEqual([...png.subarray(1, 4)].map((b) => String.fromCharCode(b)).join(''), 'PNG');
  const { width, height } = await sharp(png).metadata();
  assert.deepEqual([width, height], [760, 440]);
});
