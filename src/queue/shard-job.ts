/**
 * What a queue job may hold. A shard job travels through Redis, where any client that reaches
 * the server can write anything, so a worker trusts none of it: before it reads or writes
 * anything it checks the job against this schema, and `submitRun` checks what it enqueues with
 * the same rules (a job one side writes, the other side accepts). Platform-free and pure: each
 * check returns the reason a value is refused, in one line, or `undefined`.
 */
import { getLimits, raiseHint } from '../limits.js';

/** One shard of a run, as `submitRun` enqueues it under the job id `<run>#<shard>`. */
export interface ShardData {
  /** The run's name (see {@link runNameProblem}). */
  run: string;
  /** The shard's index in the run, from 0. */
  shard: number;
  /** Absolute image paths and http(s) URLs, 1 to `maxShardFiles` of them. */
  files: string[];
  /** The absolute results folder: the shard's results go to `<out>/<run>/shard-<shard>.jsonl`. */
  out: string;
}

const KEYS: readonly (keyof ShardData)[] = ['run', 'shard', 'files', 'out'];

/** Longest run name: it becomes a folder name, a Redis key and the prefix of every job id. */
const MAX_RUN_NAME = 64;

/** Longest file path or URL in a job, and longest `out`: Linux's PATH_MAX. */
const MAX_ENTRY_CHARS = 4096;

/** The name of a shard's results file in `<out>/<run>/`: `shard-000042.jsonl`. */
export const shardFileName = (shard: number): string => `shard-${String(shard).padStart(6, '0')}.jsonl`;

const RUN_NAME = new RegExp(`^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,${MAX_RUN_NAME - 1}}$`);

/** A received value in a message: short, on one line, and never a dump of a huge list. */
function show(v: unknown): string {
  if (Array.isArray(v)) return `a list of ${v.length.toLocaleString('en-US')} entries`;
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
}

/**
 * Why `name` cannot name a run, or `undefined`. A name is 1 to 64 letters, digits, `_`, `-` and
 * `.`, not starting with `.`: so never `.` or `..`, no separator, no `#` (the job ids'
 * separator) and no `:` (Redis keys').
 */
export function runNameProblem(name: unknown): string | undefined {
  if (typeof name === 'string' && RUN_NAME.test(name)) return undefined;
  return `a run name is 1 to ${MAX_RUN_NAME} letters, digits, "_", "-" and "." (not first), received ${show(name)}`;
}

const ABSOLUTE = /^(\/|[A-Za-z]:[\\/]|\\\\)/;

/** Why `entry` cannot be a job's file (an absolute path or an http(s) URL) or `out` (`url` false), or `undefined`. */
export function entryProblem(entry: string, { url = true } = {}): string | undefined {
  if (entry.length > MAX_ENTRY_CHARS)
    return `${show(entry)} is ${entry.length.toLocaleString('en-US')} characters, more than ${MAX_ENTRY_CHARS}`;
  if (entry.includes('\0')) return `${show(entry)} holds a NUL character`;
  if (url && /^https?:\/\//i.test(entry)) return URL.canParse(entry) ? undefined : `not a valid URL ${show(entry)}`;
  if (!ABSOLUTE.test(entry)) return `not an absolute path${url ? ' or an http(s) URL' : ''}: ${show(entry)}`;
  return undefined;
}

/**
 * Why a job's stored data (its JSON text, before it is parsed) is refused, or `undefined`:
 * more than `maxJsonBytes` characters (JSON takes many times its size once parsed).
 */
export function jobJsonProblem(text: string): string | undefined {
  if (text.length <= getLimits().maxJsonBytes) return undefined;
  return `job data of ${text.length.toLocaleString('en-US')} characters is more than ${raiseHint('maxJsonBytes')}`;
}

/** Why `files` is not a shard's list, or `undefined`. */
function filesProblem(files: unknown): string | undefined {
  if (!Array.isArray(files)) return `files: expected a list of paths and URLs, received ${show(files)}`;
  const max = getLimits().maxShardFiles;
  if (files.length > max) return `files: ${files.length.toLocaleString('en-US')} entries is more than ${raiseHint('maxShardFiles')}`;
  if (files.length === 0) return 'files: the list is empty';
  for (let i = 0; i < files.length; i++) {
    const f: unknown = files[i];
    const why = typeof f === 'string' ? entryProblem(f) : `expected a string, received ${show(f)}`;
    if (why) return `files[${i}]: ${why}`;
  }
  return undefined;
}

/**
 * Why `data` is not a shard job that `submitRun` would have written under the id `jobId`, or
 * `undefined`: exactly the keys of {@link ShardData}, a valid run name, a non-negative integer
 * shard, 1 to `maxShardFiles` absolute paths or http(s) URLs, an absolute `out`, and the id
 * `<run>#<shard>`. Nothing is read or written before this passes.
 */
export function shardDataProblem(data: unknown, jobId: string | undefined): string | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    return `expected an object { run, shard, files, out }, received ${show(data)}`;
  const d = data as Record<string, unknown>;
  const extra = Object.keys(d).find((k) => !(KEYS as readonly string[]).includes(k));
  if (extra !== undefined) return `unknown key ${show(extra)} (a shard job has ${KEYS.join(', ')})`;
  const run = runNameProblem(d['run']);
  if (run) return `run: ${run}`;
  if (typeof d['shard'] !== 'number' || !Number.isSafeInteger(d['shard']) || d['shard'] < 0)
    return `shard: expected a non-negative integer, received ${show(d['shard'])}`;
  const files = filesProblem(d['files']);
  if (files) return files;
  if (typeof d['out'] !== 'string') return `out: expected an absolute folder path, received ${show(d['out'])}`;
  const out = entryProblem(d['out'], { url: false });
  if (out) return `out: ${out}`;
  const id = `${d['run'] as string}#${d['shard']}`;
  if (jobId !== id) return `the job id ${show(jobId)} is not its run and shard, ${show(id)}`;
  return undefined;
}
