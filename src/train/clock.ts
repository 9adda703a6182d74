/** Wall-clock time of a training run, for its records, checkpoints and ETA. */

/** Seconds on a monotonic clock. */
export const now = (): number => performance.now() / 1000;

/** Wall-clock bookkeeping: run time for records and checkpoints, the pace of steps for the ETA. */
export class Clock {
  readonly start = now();
  /** Seconds one evaluation took (for the ETA). */
  evalSeconds = 0;
  private since = NaN;
  private steps = 0;
  private first = NaN;

  /** @param before seconds of training in earlier invocations (a resumed run's). */
  constructor(private readonly before: number) {}

  /** Seconds of training in this and earlier invocations. */
  elapsed(): number {
    return this.before + (now() - this.start);
  }

  /** Seconds per step: the mean over this invocation's steps after the first (which compiles). */
  step(seconds: number): number {
    if (Number.isNaN(this.since)) {
      this.since = now();
      this.first = seconds;
    } else this.steps++;
    return this.steps > 0 ? (now() - this.since) / this.steps : this.first;
  }

  /** Time spent at the end of an epoch does not count towards the pace of training steps. */
  pauseFor(seconds: number): void {
    if (!Number.isNaN(this.since)) this.since += seconds;
  }
}
