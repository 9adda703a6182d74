/**
 * Prediction across machines on BullMQ (a Redis-backed job queue: retries, stalled-job recovery,
 * progress). A run is a list of image files and http(s) URLs cut into shards (workers download
 * URLs with a bounded size and time; one that fails is skipped like an unreadable file, and
 * counted in `status`); each shard is one job with an
 * idempotent id (`<run>#<shard>`, so submitting twice adds nothing). Workers on any machine take
 * shards, run them through one model session in batches, write each shard's JSON Lines
 * atomically to `<out>/<run>/shard-<n>.jsonl` (a folder every worker reaches) and acknowledge.
 * A worker killed mid-shard holds a lock that expires; BullMQ's stall check then hands the shard
 * to another worker, which rewrites the same file: at-least-once processing, exactly-once
 * results. `collect` concatenates the shards in order. The worker itself is `worker-node.ts`;
 * what a job may hold, checked on both sides, is `shard-job.ts`.
 */
import { Job, Queue, type JobJsonRaw, type MinimalQueue } from 'bullmq';
import { Redis } from 'ioredis';
import { accessSync, constants, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { join, resolve } from 'node:path';
import { FileWriteError, InternalError, OptionError } from '../errors.js';
import { isImageUrl } from '../image/decode-node.js';
import { listImages } from '../infer/predict-files-node.js';
import { getLimits, raiseHint } from '../limits.js';
import { entryProblem, jobJsonProblem, runNameProblem, shardDataProblem, shardFileName, type ShardData } from './shard-job.js';

/** The one BullMQ queue every run's shards go through. */
export const QUEUE_NAME = 'googlenet-predict';

/** A run name as `submit`, `status`, `collect` take it: the one rule of `runNameProblem`, refused naming `--name`. */
function checkRunName(run: string): void {
  const why = runNameProblem(run);
  if (why) throw new OptionError(`--name: ${why}`, { option: '--name' });
}

/** Why each job read by {@link GuardedJob} could not be read, by job: a worker fails such a job unread. */
const unreadable = new WeakMap<Job, string>();

/** Why `job`'s stored fields could not be read from Redis (too large, not JSON), or `undefined`. */
export const unreadableReason = (job: Job): string | undefined => unreadable.get(job);

const oneLine = (s: string) => (s.length > 200 ? s.slice(0, 197) + '…' : s).replace(/\s+/g, ' ');

/**
 * BullMQ's job, read defensively. BullMQ parses a job's stored JSON before a worker sees it and
 * throws on text that is not JSON, which leaves the job to stall and retry for minutes and breaks
 * `status`; and it would parse data of any size. This reader refuses data longer than
 * `maxJsonBytes` unparsed, and for either fault stands in `null` data and records the reason
 * ({@link unreadableReason}); the worker (`worker-node.ts`) then fails the job with it at once.
 */
export class GuardedJob<T = unknown, R = unknown, N extends string = string> extends Job<T, R, N> {
  static override fromJSON<D = unknown, RV = unknown, NT extends string = string>(
    queue: MinimalQueue,
    json: JobJsonRaw,
    jobId?: string,
  ): Job<D, RV, NT> {
    let why = jobJsonProblem(json.data ?? '');
    if (!why)
      try {
        return super.fromJSON<D, RV, NT>(queue, json, jobId);
      } catch (e) {
        const fields = (['data', 'opts', 'progress', 'parent'] as const).filter((k) => {
          try {
            JSON.parse(json[k] || '0');
            return false;
          } catch {
            return true;
          }
        });
        why = `job ${fields.join(', ') || 'fields'} not JSON (${oneLine((e as Error).message)})`;
      }
    const { parent: _, ...rest } = json;
    const job = super.fromJSON<D, RV, NT>(queue, { ...rest, data: 'null', opts: '{}', progress: '0' }, jobId);
    unreadable.set(job, why);
    return job;
  }
}

/** A BullMQ queue whose jobs are read by {@link GuardedJob}. */
class GuardedQueue extends Queue {
  protected override get Job(): typeof Job {
    return GuardedJob;
  }
}

/** Connects to `url`, or throws one line naming it (no endless reconnecting). */
export async function connectRedis(url: string, { timeoutMs = 3000 } = {}): Promise<Redis> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new OptionError(`--redis: expected a URL such as redis://127.0.0.1:6379, received "${url}"`, { option: '--redis' });
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')
    throw new OptionError(`--redis: expected a redis:// URL, received "${url}"`, { option: '--redis' });
  // A plain TCP connect first: ioredis reports a refused connection as "Connection is closed".
  const port = Number(parsed.port || 6379);
  const host = parsed.hostname || '127.0.0.1';
  const why = await new Promise<string | undefined>((res) => {
    const sock = netConnect({ host, port, timeout: timeoutMs }, () => {
      sock.destroy();
      res(undefined);
    });
    sock.on('timeout', () => {
      sock.destroy();
      res(`no answer in ${timeoutMs} ms`);
    });
    sock.on('error', (e: NodeJS.ErrnoException) => res(e.code ?? e.message));
  });
  if (why) throw new OptionError(`cannot reach Redis at ${url} (${why})`, { option: '--redis' });
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
  } catch (e) {
    probe.disconnect();
    throw new OptionError(`cannot use Redis at ${url} (${(e as Error).message})`, { option: '--redis' });
  }
  probe.disconnect();
  // BullMQ's workers need a connection that waits out short outages instead of failing commands.
  const conn = new Redis(url, { maxRetriesPerRequest: null });
  conn.on('error', () => undefined);
  return conn;
}

const runKey = (run: string) => `googlenet:run:${run}`;

/** A file or URL as a job may hold it (`entryProblem`), or an OptionError naming where it came from. */
function checkEntry(u: string, where: string): string {
  const why = entryProblem(u);
  if (why) throw new OptionError(`${where}: ${why}`, { option: where });
  return u;
}

/** The lines of a `--list` file that name something: not blank, not a `#` comment. */
async function* listLines(list: string): AsyncGenerator<{ line: string; n: number }> {
  const fh = await open(list).catch((e: NodeJS.ErrnoException) => {
    throw new OptionError(`--list ${list}: cannot be read (${e.code ?? e.message})`, { option: '--list', file: list });
  });
  try {
    let n = 0;
    for await (const raw of fh.readLines()) {
      n++;
      const line = raw.trim();
      if (line && !line.startsWith('#')) yield { line, n };
    }
  } finally {
    await fh.close();
  }
}

/**
 * What a run predicts, in order: each path's images (a file, or a folder's sorted images) or URL,
 * then the lines of `list` (one path, folder or URL a line). Paths come back absolute, URLs as
 * given. Streamed: a list of millions is never held.
 */
async function* runSources(paths: readonly string[], o: { list?: string; recursive?: boolean } = {}): AsyncGenerator<string> {
  const recursive = !!o.recursive;
  const one = async function* (p: string, where?: string): AsyncGenerator<string> {
    if (isImageUrl(p)) yield checkEntry(p, where ?? 'queue submit');
    else
      try {
        for await (const f of listImages([p], { recursive })) yield checkEntry(resolve(f), where ?? 'queue submit');
      } catch (e) {
        // A missing file named in the list: say which line.
        if (where && e instanceof OptionError) throw new OptionError(`${where}: ${e.message}`, { option: '--list' });
        throw e;
      }
  };
  for (const p of paths) yield* one(p);
  if (o.list) for await (const { line, n } of listLines(o.list)) yield* one(line, `--list ${o.list}, line ${n}`);
}

/**
 * Lists the images and URLs of `paths` and `list` and enqueues them as shards of `shardSize`;
 * returns the counts. Every job it writes passes the workers' own check (`shardDataProblem`).
 */
export async function submitRun(
  conn: Redis,
  o: { run: string; paths: string[]; list?: string; out: string; shardSize?: number; recursive?: boolean; attempts?: number },
): Promise<{ shards: number; files: number }> {
  checkRunName(o.run);
  if (o.paths.length === 0 && !o.list)
    throw new OptionError('queue submit: give image files, folders or URLs, or --list FILE', { option: '--list' });
  const size = o.shardSize ?? 1000;
  if (!Number.isSafeInteger(size) || size < 1)
    throw new OptionError(`--shard-size: expected a positive integer, received ${size}`, { option: '--shard-size' });
  if (size > getLimits().maxShardFiles)
    throw new OptionError(`--shard-size: ${size} files is more than ${raiseHint('maxShardFiles')}`, { option: '--shard-size' });
  const out = resolve(o.out);
  const outWhy = entryProblem(out, { url: false });
  if (outWhy) throw new OptionError(`--out-dir: ${outWhy}`, { option: '--out-dir' });
  try {
    mkdirSync(out, { recursive: true });
    accessSync(out, constants.W_OK);
  } catch (e) {
    throw new FileWriteError(
      `${o.out}: the results folder cannot be written (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      {
        file: o.out,
      },
    );
  }
  // A first pass over the listing checks every line and path, and each shard's size as a job, so
  // that a bad one leaves nothing half-submitted.
  let files = 0;
  let json = 0; // an upper bound of the current shard's JSON length
  const base = JSON.stringify({ run: o.run, shard: Number.MAX_SAFE_INTEGER, files: [], out }).length;
  for await (const f of runSources(o.paths, o)) {
    if (files % size === 0) json = base;
    json += JSON.stringify(f).length + 1;
    if (json > getLimits().maxJsonBytes)
      throw new OptionError(
        `--shard-size: shard ${Math.floor(files / size)} would be ${json.toLocaleString('en-US')} characters of JSON, more than ${raiseHint('maxJsonBytes')}; or give a smaller --shard-size`,
        { option: '--shard-size' },
      );
    files++;
  }
  if (files === 0) throw new OptionError(`no images in ${[...o.paths, ...(o.list ? [o.list] : [])].join(', ')}`, { option: 'paths' });
  const queue = new Queue<ShardData>(QUEUE_NAME, { connection: conn });
  let shard: string[] = [];
  let shards = 0;
  const add = async () => {
    const data: ShardData = { run: o.run, shard: shards, files: shard, out };
    const jobId = `${o.run}#${shards}`;
    const why = shardDataProblem(data, jobId);
    if (why) throw new InternalError(`queue submit: job ${jobId} would be refused by the workers: ${why}`);
    await queue.add('shard', data, { jobId, attempts: o.attempts ?? 3, backoff: { type: 'exponential', delay: 1000 } });
    shards++;
    shard = [];
  };
  for await (const f of runSources(o.paths, o)) {
    shard.push(f);
    if (shard.length >= size) await add();
  }
  if (shard.length) await add();
  await conn.hset(runKey(o.run), { shards: String(shards), files: String(files), out });
  await queue.close();
  return { shards, files };
}

/**
 * Counts of a run's shards by state, the failed ones' errors, and the files of finished shards
 * that could not be read, downloaded or decoded (skipped, as `predict` skips them).
 */
export async function runStatus(
  conn: Redis,
  run: string,
): Promise<{ shards: number; counts: Record<string, number>; failed: { shard: string; error: string }[]; unreadable: number }> {
  checkRunName(run);
  const meta = await conn.hgetall(runKey(run));
  if (!meta['shards']) throw new OptionError(`no run named "${run}" on this Redis`, { option: 'run' });
  // Jobs are read defensively and told apart by id (`<run>#<n>`), not by data any client may have written.
  const queue = new GuardedQueue(QUEUE_NAME, { connection: conn });
  const counts: Record<string, number> = {};
  const failed: { shard: string; error: string }[] = [];
  let unreadable = 0;
  for (const state of ['waiting', 'active', 'delayed', 'completed', 'failed'] as const) {
    const jobs = (await queue.getJobs([state])).filter((j) => j?.id?.startsWith(`${run}#`));
    counts[state] = jobs.length;
    if (state === 'failed') for (const j of jobs) failed.push({ shard: j.id!, error: j.failedReason });
    if (state === 'completed')
      for (const j of jobs) {
        const n = (j.returnvalue as { unreadable?: unknown } | null)?.unreadable;
        if (Number.isSafeInteger(n)) unreadable += n as number;
      }
  }
  await queue.close();
  return { shards: Number(meta['shards']), counts, failed, unreadable };
}

/** Concatenates a finished run's shard files in order into one JSON Lines text. */
export async function collectRun(conn: Redis, run: string): Promise<string> {
  checkRunName(run);
  const meta = await conn.hgetall(runKey(run));
  if (!meta['shards']) throw new OptionError(`no run named "${run}" on this Redis`, { option: 'run' });
  const out = meta['out'] ?? '';
  const why = entryProblem(out, { url: false });
  if (why) throw new OptionError(`run "${run}": the results folder this Redis holds for it: ${why}`, { option: 'run' });
  const parts: string[] = [];
  const missing: number[] = [];
  for (let i = 0; i < Number(meta['shards']); i++) {
    const p = join(out, run, shardFileName(i));
    if (existsSync(p)) parts.push(readFileSync(p, 'utf8'));
    else missing.push(i);
  }
  if (missing.length)
    throw new OptionError(
      `run "${run}" is not finished: ${missing.length} of ${meta['shards']} shards have no results yet (e.g. shard ${missing[0]})`,
      { option: 'run' },
    );
  return parts.join('');
}
