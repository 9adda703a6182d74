import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import type { MetricsRecord } from './metrics.js';
import { svgToPng, writeTrainingPlots } from './plot-node.js';
import { confusionSvg, lineChartSvg, niceTicks, trainingCharts, xmlEscape } from './plot.js';

const dir = mkdtempSync(join(tmpdir(), 'plot-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('nice ticks: round steps covering the range', () => {
  const round = (v: number[]): number[] => v.map((x) => Number(x.toFixed(10)));
  assert.deepEqual(round(niceTicks(0, 1, 5)), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0, 100, 5), [0, 20, 40, 60, 80, 100]);
  assert.deepEqual(round(niceTicks(1.7, 2.3, 6)), [1.7, 1.8, 1.9, 2, 2.1, 2.2, 2.3]);
  assert.equal(niceTicks(NaN, 1).length, 0);
});

test('a line chart is SVG with one path per series and escaped labels', () => {
  const svg = lineChartSvg(
    [
      {
        name: 'a<b',
        points: [
          [0, 1],
          [1, 0.5],
          [2, NaN],
          [3, 0.25],
        ],
      },
      { name: 'c & d', points: [[1, 0.7]], markers: true },
    ],
    { title: 'loss "x"', xLabel: 'epoch', yLabel: 'loss' },
  );
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal((svg.match(/<path /g) ?? []).length, 1, 'a one-point series gets a dot, not a path');
  assert.match(svg, /a&lt;b/);
  assert.match(svg, /c &amp; d/);
  assert.match(svg, /loss &quot;x&quot;/);
  assert.equal(xmlEscape(`<&>"'`), '&lt;&amp;&gt;&quot;&apos;');
});

test('the confusion heatmap has one cell per entry and renders to a PNG of its size', async () => {
  const m = [
    [5, 1, 0],
    [0, 6, 0],
    [2, 0, 4],
  ];
  const svg = confusionSvg(m, ['T-shirt/top', 'Trouser', 'Bag & co'], 'test');
  assert.equal((svg.match(/<rect x=/g) ?? []).length, 9);
  assert.match(svg, />Bag &amp; co</);
  const png = await svgToPng(svg);
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, 'png');
  const w = Number(/width="(\d+)"/.exec(svg)![1]);
  assert.equal(meta.width, w);
});

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
