/**
 * The training metrics records: `DIR/metrics.jsonl` holds one per line, appended as training goes
 * (`metrics-node.ts` writes and reads the file).
 *
 *   { "type": "step",  "epoch": 0, "step": 50,  "loss": 1.93, "acc": 0.31, "lr": 2e-4, "imgPerSec": 210, "time": 12.5 }
 *   { "type": "epoch", "epoch": 0, "step": 300, "loss": 1.41, "acc": 0.52, "top1": 0.71, "top5": 0.98, "emaTop1": 0.69, … }
 *
 * Every line has `epoch` (0-based), `step` (optimizer steps done) and `loss`; epoch lines add the
 * validation `top1`. `loss`/`acc` of a step line are the means over the steps since the previous
 * step line; of an epoch line, over the whole epoch.
 */

export interface StepRecord {
  type: 'step';
  epoch: number;
  step: number;
  loss: number;
  /** Training accuracy over the same steps. */
  acc: number;
  lr: number;
  imgPerSec: number;
  /** Seconds since the run (or the resumed run) started. */
  time: number;
}

export interface EpochRecord {
  type: 'epoch';
  epoch: number;
  step: number;
  /** Mean training loss over the epoch. */
  loss: number;
  /** Training accuracy over the epoch. */
  acc: number;
  lr: number;
  /** Validation top-1 / top-5 in [0, 1] (null when there is no validation set). */
  top1: number | null;
  top5: number | null;
  valLoss: number | null;
  /** The same for the EMA weights, when on. */
  emaTop1?: number | null;
  emaTop5?: number | null;
  /** Seconds this epoch took (training + evaluation). */
  seconds: number;
  imgPerSec: number;
}

export type MetricsRecord = StepRecord | EpochRecord;

/** Running means of loss and accuracy, reset on demand (per logging window or per epoch). */
export class RunningMean {
  private lossSum = 0;
  private correct = 0;
  private seen = 0;
  private batches = 0;

  add(loss: number, correct: number, batchSize: number): void {
    this.lossSum += loss * batchSize;
    this.correct += correct;
    this.seen += batchSize;
    this.batches++;
  }

  get count(): number {
    return this.seen;
  }

  get steps(): number {
    return this.batches;
  }

  /** Sample-weighted mean loss (NaN before any sample). */
  get loss(): number {
    return this.seen ? this.lossSum / this.seen : NaN;
  }

  get acc(): number {
    return this.seen ? this.correct / this.seen : NaN;
  }

  reset(): void {
    this.lossSum = this.correct = this.seen = this.batches = 0;
  }
}
