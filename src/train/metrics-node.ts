/** `DIR/metrics.jsonl`: training records (`metrics.ts`) appended as training goes, and read back. */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { FileWriteError } from '../errors.js';
import { makeDir, writeFileAtomic } from '../files-node.js';
import { getLimits } from '../limits.js';
import type { MetricsRecord } from './metrics.js';

export type { MetricsRecord } from './metrics.js';

/** Appends records to a metrics.jsonl file. */
export class MetricsLog {
  constructor(readonly path: string) {}

  append(r: MetricsRecord): void {
    makeDir(dirname(this.path));
    try {
      appendFileSync(this.path, JSON.stringify(r) + '\n');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new FileWriteError(`${this.path}: cannot append a metrics record (${err.code ?? err.message}); the checkpoint is unaffected`, {
        file: this.path,
        cause: e,
      });
    }
  }

  /**
   * Keeps only the records at or before `step` (a resumed run drops what an interrupted run logged
   * after its last checkpoint, so the file reads as one run). Rewritten atomically.
   */
  truncateAfter(step: number): void {
    if (!existsSync(this.path)) return;
    const kept = readMetrics(this.path).filter((r) => r.step <= step);
    writeFileAtomic(this.path, new TextEncoder().encode(kept.map((r) => JSON.stringify(r) + '\n').join('')));
  }
}

/** Parses a metrics.jsonl file (blank, unparseable — a torn write — and overlong lines are skipped). */
export function readMetrics(path: string): MetricsRecord[] {
  if (!existsSync(path)) return [];
  const out: MetricsRecord[] = [];
  const longest = getLimits().maxJsonBytes;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    // A record is a few hundred bytes; a huge line is damage (and could take 50× its size parsed).
    if (!line.trim() || line.length > longest) continue;
    try {
      const r = JSON.parse(line) as MetricsRecord;
      if (r && typeof r === 'object' && typeof r.step === 'number') out.push(r);
    } catch {
      /* torn last line */
    }
  }
  return out;
}
