/** Writes the charts of `plot.ts` as SVG and PNG files (sharp / librsvg renders the PNG). */

import { dirname } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic, makeDir } from '../files-node.js';
import type { MetricsRecord } from './metrics.js';
import { trainingCharts } from './plot.js';

/** Renders an SVG document to PNG bytes (sharp / librsvg). */
export async function svgToPng(svg: string): Promise<Uint8Array> {
  return new Uint8Array(await sharp(Buffer.from(svg)).png().toBuffer());
}

/** Writes `base.svg` and `base.png` atomically; returns both paths. */
export async function writeSvgAndPng(base: string, svg: string): Promise<[string, string]> {
  makeDir(dirname(base));
  writeFileAtomic(`${base}.svg`, new TextEncoder().encode(svg));
  writeFileAtomic(`${base}.png`, await svgToPng(svg));
  return [`${base}.svg`, `${base}.png`];
}

/** Writes loss.{svg,png} and accuracy.{svg,png} into `dir`; returns the paths. */
export async function writeTrainingPlots(
  dir: string,
  records: readonly MetricsRecord[],
  stepsPerEpoch: number,
  title = '',
): Promise<string[]> {
  const c = trainingCharts(records, stepsPerEpoch, title);
  return [...(await writeSvgAndPng(`${dir}/loss`, c.loss)), ...(await writeSvgAndPng(`${dir}/accuracy`, c.accuracy))];
}
