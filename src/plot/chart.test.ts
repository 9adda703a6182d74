import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { svgToPng } from './chart-node.js';
import { confusionSvg, lineChartSvg, niceTicks, xmlEscape } from './chart.js';

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

test('every caller-supplied text is escaped: a class name like <script>&"\' adds no markup, and the SVG still renders', async () => {
  const evil = `<script>&"'`;
  const escaped = /&lt;script&gt;&amp;&quot;&apos;/g;
  const line = lineChartSvg(
    [
      {
        name: evil,
        points: [
          [0, 1],
          [1, 2],
        ],
        color: `"/><script>alert(1)</script><x a="`,
      },
    ],
    { title: evil, xLabel: evil, yLabel: evil },
  );
  assert.equal(line.match(escaped)?.length, 4, 'title, both axis labels, the legend');
  const heat = confusionSvg(
    [
      [3, 1],
      [0, 4],
    ],
    [evil, 'bell\u0007'],
    evil,
  );
  assert.equal(heat.match(escaped)?.length, 3, 'title, row and column name');
  assert.ok(heat.includes('bell\ufffd') && !heat.includes('\u0007'), 'a control character (not allowed in XML) is replaced');
  for (const svg of [line, heat]) {
    assert.ok(!/<script|<x /.test(svg), svg);
    assert.equal((await sharp(await svgToPng(svg)).metadata()).format, 'png'); // librsvg refuses malformed XML
  }
  await assert.rejects(
    svgToPng(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>${evil}</text></svg>`),
    'unescaped, the same text breaks the document',
  );
});
