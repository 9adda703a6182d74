/** Writes the training curves of `plot.ts` as SVG and PNG files. */
import { writeSvgAndPng } from '../plot/chart-node.js';
import type { MetricsRecord } from './metrics.js';
import { trainingCharts } from './plot.js';

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
