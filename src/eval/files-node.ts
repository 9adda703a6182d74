/** Evaluation results as files: `eval.json`, `confusion.json`, and the confusion matrix as SVG and PNG. */

import { join } from 'node:path';
import { writeFileAtomic, makeDir } from '../files-node.js';
import { confusionSvg } from '../plot/chart.js';
import { writeSvgAndPng } from '../plot/chart-node.js';
import type { EvalMetrics } from './metrics.js';

/** Writes eval.json and confusion.{json,svg,png} of `m` into `dir`; returns the confusion files. */
export async function writeEvalFiles(dir: string, m: EvalMetrics, title: string): Promise<string[]> {
  const enc = (x: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(x, null, 2) + '\n');
  makeDir(dir);
  writeFileAtomic(join(dir, 'eval.json'), enc(m));
  writeFileAtomic(
    join(dir, 'confusion.json'),
    enc({ classes: m.classes, matrix: m.confusion, rows: 'true class', columns: 'predicted class' }),
  );
  const [svg, png] = await writeSvgAndPng(join(dir, 'confusion'), confusionSvg(m.confusion, m.classes, `Confusion matrix: ${title}`));
  return [join(dir, 'confusion.json'), svg, png];
}
