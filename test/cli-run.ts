/**
 * Runs the `googlenet` command from the repository root, through tsx (no build needed): the
 * helpers the CLI tests share.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('..', import.meta.url));
export const MAIN = join(REPO, 'src', 'cli', 'main.ts');

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `googlenet …` and waits for it. */
export function cli(...args: string[]): Run {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: REPO, encoding: 'utf8', maxBuffer: 1 << 26 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs and expects success; returns stdout. */
export function ok(...args: string[]): string {
  const r = cli(...args);
  assert.equal(r.status, 0, `googlenet ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

/**
 * `cli` without blocking this process, so that independent runs overlap (most of a run is
 * start-up) and a server in this process can answer. `onStderr` sees the stderr so far after
 * each chunk, with a way to signal the child; `env` is added to this process's environment.
 */
export function cliAsync(
  args: string[],
  onStderr?: (text: string, kill: (s: NodeJS.Signals) => void) => void,
  env: Record<string, string> = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: REPO, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      onStderr?.(stderr, (s) => child.kill(s));
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** A run with its peak memory and wall time. */
export interface MeasuredRun extends Run {
  /** Peak resident memory in bytes (null when the process died before reporting it). */
  maxRss: number | null;
  seconds: number;
}

/**
 * `cliAsync` with the process's peak memory measured (test/max-rss.ts, preloaded) and a time
 * limit: past `timeoutS` seconds the process is killed (status null).
 */
export async function cliMeasured(args: string[], timeoutS = 60): Promise<MeasuredRun> {
  const dir = mkdtempSync(join(tmpdir(), 'googlenet-rss-'));
  const file = join(dir, 'max-rss');
  const t0 = performance.now();
  try {
    const run = await new Promise<Run>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--import', join(REPO, 'test', 'max-rss.ts'), MAIN, ...args], {
        cwd: REPO,
        env: { ...process.env, GOOGLENET_TEST_MAX_RSS_FILE: file },
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
    });
    const maxRss = existsSync(file) ? Number(readFileSync(file, 'utf8')) : null;
    return { ...run, maxRss, seconds: (performance.now() - t0) / 1000 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
