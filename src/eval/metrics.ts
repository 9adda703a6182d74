/**
 * Classification metrics as plain functions of (probabilities, labels): top-1 and top-5
 * accuracy, their errors (the paper's metric), per-class accuracy, the confusion matrix and the
 * mean negative log-likelihood. `MetricsAccumulator` collects them batch by batch.
 */

import { DatasetFormatError, OptionError } from '../errors.js';
import { checkFiniteLogits } from '../tensor.js';

/** Row-wise softmax of N×K logits (numerically stable), as float64. */
export function softmaxRows(logits: ArrayLike<number>, n: number, k: number): Float64Array {
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, logits[i * k + j] as number);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += out[i * k + j] = Math.exp((logits[i * k + j] as number) - max);
    for (let j = 0; j < k; j++) out[i * k + j] = (out[i * k + j] as number) / sum;
  }
  return out;
}

/**
 * The rank of the true class in a row: how many classes score strictly higher (0 = top-1).
 * Ties count in the label's favour, as `torch.topk` usually resolves them for the first index.
 */
export function rankOfLabel(row: ArrayLike<number>, offset: number, k: number, label: number): number {
  const v = row[offset + label] as number;
  let rank = 0;
  for (let j = 0; j < k; j++) {
    const u = row[offset + j] as number;
    if (u > v || (u === v && j < label)) rank++;
  }
  return rank;
}

/** Index of the largest value of a row (the first on ties). */
function argmaxRow(row: ArrayLike<number>, offset: number, k: number): number {
  let best = 0;
  for (let j = 1; j < k; j++) if ((row[offset + j] as number) > (row[offset + best] as number)) best = j;
  return best;
}

interface PerClass {
  index: number;
  name: string;
  /** Test samples of this class. */
  n: number;
  /** Fraction of them classified correctly (recall); null when n = 0. */
  accuracy: number | null;
}

/** What `evaluate` reports. Accuracies are fractions in [0, 1]. */
export interface EvalMetrics {
  n: number;
  top1: number;
  top5: number;
  /** 1 − top1 and 1 − top5 (the paper reports errors). */
  error: number;
  top5Error: number;
  /** Mean −log p(true class). */
  loss: number;
  perClass: PerClass[];
  /** counts[true][predicted]. */
  confusion: number[][];
  classes: string[];
}

export class MetricsAccumulator {
  private readonly counts: Int32Array;
  private n = 0;
  private hit1 = 0;
  private hit5 = 0;
  private nll = 0;

  constructor(
    readonly numClasses: number,
    readonly classes: readonly string[] = Array.from({ length: numClasses }, (_, i) => String(i)),
  ) {
    this.counts = new Int32Array(numClasses * numClasses);
  }

  /** Adds N rows of K class probabilities (or any scores; `loss` assumes probabilities). */
  add(probs: ArrayLike<number>, labels: ArrayLike<number>): void {
    const k = this.numClasses;
    const n = labels.length;
    if (probs.length !== n * k)
      throw new OptionError(`metrics: ${probs.length} scores for ${n} labels × ${k} classes`, { option: 'probs' });
    checkFiniteLogits(probs, n, k, 'metrics: the scores');
    for (let i = 0; i < n; i++) {
      const y = labels[i] as number;
      if (!(Number.isInteger(y) && y >= 0 && y < k))
        throw new OptionError(`metrics: label ${y} is out of range [0, ${k})`, { option: 'labels' });
      const off = i * k;
      const pred = argmaxRow(probs, off, k);
      const rank = rankOfLabel(probs, off, k, y);
      this.counts[y * k + pred]!++;
      if (rank < 1) this.hit1++;
      if (rank < 5) this.hit5++;
      this.nll -= Math.log(Math.max(probs[off + y] as number, 1e-12));
      this.n++;
    }
  }

  /** The metrics so far. @throws DatasetFormatError when no sample was added (an empty test set scores nothing). */
  result(): EvalMetrics {
    if (this.n === 0) throw new DatasetFormatError('no test images: the evaluation set is empty, so there is no accuracy to report');
    const k = this.numClasses;
    const confusion: number[][] = [];
    for (let i = 0; i < k; i++) confusion.push(Array.from(this.counts.subarray(i * k, (i + 1) * k)));
    const perClass: PerClass[] = confusion.map((row, i) => {
      const n = row.reduce((a, b) => a + b, 0);
      return { index: i, name: this.classes[i] ?? String(i), n, accuracy: n ? row[i]! / n : null };
    });
    const top1 = this.n ? this.hit1 / this.n : 0;
    const top5 = this.n ? this.hit5 / this.n : 0;
    return {
      n: this.n,
      top1,
      top5,
      error: 1 - top1,
      top5Error: 1 - top5,
      loss: this.n ? this.nll / this.n : NaN,
      perClass,
      confusion,
      classes: [...this.classes],
    };
  }
}

/** One-shot metrics of N×K probabilities against N labels. */
export function classificationMetrics(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
  classes?: readonly string[],
): EvalMetrics {
  const acc = new MetricsAccumulator(numClasses, classes);
  acc.add(probs, labels);
  return acc.result();
}

/** The metrics as the text `googlenet eval` prints (ending with the PyTorch CIFAR-10 tutorial's "Accuracy of Test Data" line). */
export function formatMetrics(m: EvalMetrics, options: { confusion?: boolean } = {}): string {
  const pct = (v: number | null): string => (v === null ? '   n/a' : `${(100 * v).toFixed(2).padStart(6)}%`);
  const lines: string[] = [];
  lines.push(`images: ${m.n}`);
  lines.push(`top-1 accuracy: ${(100 * m.top1).toFixed(2)}%   top-1 error: ${(100 * m.error).toFixed(2)}%`);
  lines.push(`top-5 accuracy: ${(100 * m.top5).toFixed(2)}%   top-5 error: ${(100 * m.top5Error).toFixed(2)}%`);
  lines.push(`mean loss (NLL): ${m.loss.toFixed(4)}`);
  lines.push('');
  lines.push('per-class accuracy:');
  const w = Math.max(5, ...m.perClass.map((c) => c.name.length));
  for (const c of m.perClass) lines.push(`  ${String(c.index).padStart(3)} ${c.name.padEnd(w)} ${pct(c.accuracy)}  (${c.n})`);
  if (options.confusion ?? m.confusion.length <= 20) {
    lines.push('');
    lines.push('confusion matrix (rows: true class, columns: predicted):');
    const cw = Math.max(4, ...m.confusion.flat().map((v) => String(v).length + 1));
    lines.push('     ' + m.confusion.map((_, j) => String(j).padStart(cw)).join(''));
    m.confusion.forEach((row, i) => lines.push(String(i).padStart(4) + ' ' + row.map((v) => String(v).padStart(cw)).join('')));
  }
  lines.push('');
  lines.push(`Accuracy of Test Data: ${(100 * m.top1).toFixed(2)}%`);
  return lines.join('\n');
}
