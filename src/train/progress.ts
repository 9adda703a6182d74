/**
 * Training progress on stderr: a one-line bar redrawn in place on a terminal
 *   epoch 3/10 [████████░░░░░░░░] 120/600 loss 0.4123 acc 85.2% 245 img/s ETA 12m34s
 * and plain periodic lines when stderr is not a terminal (logs, CI, `nohup`).
 */

export type ProgressMode = 'tty' | 'plain' | 'none';

export interface ProgressState {
  epoch: number;
  epochs: number;
  /** Batches done in this epoch. */
  batch: number;
  batches: number;
  /** Global step. */
  step: number;
  loss: number;
  acc: number;
  lr: number;
  imgPerSec: number;
  /** Seconds left, or NaN while unknown. */
  eta: number;
}

/** 75 → "1m15s", 3725 → "1h02m", NaN → "?". */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  s = Math.round(s);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function fields(p: ProgressState): string {
  const loss = Number.isFinite(p.loss) ? p.loss.toFixed(4) : String(p.loss);
  const acc = Number.isFinite(p.acc) ? `${(100 * p.acc).toFixed(1)}%` : '-';
  return `loss ${loss} acc ${acc} ${p.imgPerSec.toFixed(0)} img/s ETA ${formatDuration(p.eta)}`;
}

/** The bar line (no colours, fixed 20-cell bar). */
function formatBar(p: ProgressState, cells = 20): string {
  const frac = p.batches ? Math.min(1, p.batch / p.batches) : 0;
  const full = Math.round(frac * cells);
  const bar = '█'.repeat(full) + '░'.repeat(cells - full);
  const w = String(p.batches).length;
  return `epoch ${p.epoch + 1}/${p.epochs} [${bar}] ${String(p.batch).padStart(w)}/${p.batches} ${fields(p)}`;
}

/** The plain line. */
function formatPlain(p: ProgressState): string {
  return `epoch ${p.epoch + 1}/${p.epochs} step ${p.batch}/${p.batches} (global ${p.step}) ${fields(p)} lr ${p.lr.toExponential(2)}`;
}

export class Progress {
  private lastDraw = 0;
  private drawn = false;

  constructor(
    readonly mode: ProgressMode,
    private readonly write: (s: string) => void,
  ) {}

  /** Called after every step; `periodic` marks the steps that get a plain line. */
  update(p: ProgressState, periodic: boolean): void {
    if (this.mode === 'tty') {
      const now = Date.now();
      if (now - this.lastDraw < 200 && p.batch < p.batches) return;
      this.lastDraw = now;
      this.write(`\r\x1b[K${formatBar(p)}`);
      this.drawn = true;
    } else if (this.mode === 'plain' && periodic) {
      this.write(formatPlain(p) + '\n');
    }
  }

  /** A full line of text (clears the bar first on a terminal). */
  line(text: string): void {
    if (this.mode === 'none') return;
    if (this.mode === 'tty' && this.drawn) {
      this.write('\r\x1b[K');
      this.drawn = false;
    }
    this.write(text + '\n');
  }
}
