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
 * results. `collect` concatenates the shards in order.
 */
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { accessSync, constants, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { join, resolve } from 'node:path';
import { FileWriteError, OptionError } from '../errors.js';
import { writeFileAtomic } from '../files-node.js';
import type { Classifier } from '../infer/classifier.js';
import { isImageUrl } from '../infer/decode-node.js';
import { DecodePool, defaultDecodeWorkers } from '../infer/decode-pool-node.js';
import { listImages, predictFiles } from '../infer/predict-files-node.js';

/** The one BullMQ queue every run's shards go through. */
export const QUEUE_NAME = 'googlenet-predict';

interface ShardData {
  run: string;
  shard: number;
  files: string[];
  out: string;
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

/** An http(s) URL as given, or an OptionError naming where it came from. */
function checkUrl(u: string, where: string): string {
  if (!URL.canParse(u)) throw new OptionError(`${where}: not a valid URL "${u}"`);
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
export async function* runSources(paths: readonly string[], o: { list?: string; recursive?: boolean } = {}): AsyncGenerator<string> {
  const recursive = !!o.recursive;
  const one = async function* (p: string, where?: string): AsyncGenerator<string> {
    if (isImageUrl(p)) yield checkUrl(p, where ?? 'queue submit');
    else
      try {
        for await (const f of listImages([p], { recursive })) yield resolve(f);
      } catch (e) {
        // A missing file named in the list: say which line.
        if (where && e instanceof OptionError) throw new OptionError(`${where}: ${e.message}`, { option: '--list' });
        throw e;
      }
  };
  for (const p of paths) yield* one(p);
  if (o.list) for await (const { line, n } of listLines(o.list)) yield* one(line, `--list ${o.list}, line ${n}`);
}

/** Lists the images and URLs of `paths` and `list` and enqueues them as shards of `shardSize`; returns the counts. */
export async function submitRun(
  conn: Redis,
  o: { run: string; paths: string[]; list?: string; out: string; shardSize?: number; recursive?: boolean; attempts?: number },
): Promise<{ shards: number; files: number }> {
  if (!/^[A-Za-z0-9_.-]+$/.test(o.run))
    throw new OptionError(`--name: letters, digits, _ . - only, received "${o.run}"`, { option: '--name' });
  if (o.paths.length === 0 && !o.list)
    throw new OptionError('queue submit: give image files, folders or URLs, or --list FILE', { option: '--list' });
  const size = o.shardSize ?? 1000;
  const out = resolve(o.out);
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
  // A first pass over the listing checks every line and path, so that a bad one leaves nothing half-submitted.
  let files = 0;
  for await (const _ of runSources(o.paths, o)) files++;
  if (files === 0) throw new OptionError(`no images in ${[...o.paths, ...(o.list ? [o.list] : [])].join(', ')}`);
  const queue = new Queue<ShardData>(QUEUE_NAME, { connection: conn });
  let shard: string[] = [];
  let shards = 0;
  const add = async () => {
    const data: ShardData = { run: o.run, shard: shards, files: shard, out };
    await queue.add('shard', data, {
      jobId: `${o.run}#${shards}`,
      attempts: o.attempts ?? 3,
      backoff: { type: 'exponential', delay: 1000 },
    });
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

/** Options of {@link startWorker}. */
export interface WorkerOptions {
  /** Lock time of a job in ms: a worker silent this long is taken as dead and its shard retried. Default 30000. */
  lockMs?: number;
  batch?: number;
  /** Threads that read, download and decode pictures ahead of the model, kept for the worker's life; 0: the main thread. Default 2 on more than 2 cores, else 0. */
  workers?: number;
  /** Time to download one URL, in ms. Default 30000. */
  fetchTimeoutMs?: number;
  log?: (msg: string) => void;
}

/** Takes shards until closed; resolves to the BullMQ worker (`close()` it to stop after the current shard). */
export function startWorker(conn: Redis, net: Classifier, o: WorkerOptions = {}): Worker<ShardData> {
  const lock = o.lockMs ?? 30_000;
  const workers = o.workers ?? defaultDecodeWorkers();
  const timeout = o.fetchTimeoutMs !== undefined ? { fetchTimeoutMs: o.fetchTimeoutMs } : {};
  const pool = workers > 0 ? DecodePool.forClassifier(net, { workers, ...timeout }) : undefined;
  const worker = new Worker<ShardData>(
    QUEUE_NAME,
    async (job: Job<ShardData>) => {
      const { run, shard, files, out } = job.data;
      o.log?.(`shard ${run}:${shard}: ${files.length} files`);
      const lines: string[] = [];
      const counts = await predictFiles(net, files, {
        batch: o.batch ?? 16,
        ...(pool ? { pool } : { workers: 0, ...timeout }),
        logits: true,
        onResult: async (r) => {
          lines.push(JSON.stringify({ file: r.file, top: r.top, logits: r.logits }));
          if (lines.length % 64 === 0) await job.updateProgress(lines.length / files.length);
        },
        onError: (_f, err) => {
          o.log?.(`warning: skipped ${err.message}`);
          return 'skip';
        },
      });
      mkdirSync(join(out, run), { recursive: true });
      writeFileAtomic(shardPath(out, run, shard), new TextEncoder().encode(lines.map((l) => l + '\n').join('')), { what: 'shard results' });
      o.log?.(`shard ${run}:${shard}: done`);
      return { lines: lines.length, unreadable: counts.failed };
    },
    { connection: conn, concurrency: 1, lockDuration: lock, stalledInterval: lock, maxStalledCount: 2 },
  );
  worker.on('error', () => undefined);
  worker.on('closed', () => void pool?.close());
  return worker;
}

const shardPath = (out: string, run: string, shard: number) => join(out, run, `shard-${String(shard).padStart(6, '0')}.jsonl`);

/**
 * Counts of a run's shards by state, the failed ones' errors, and the files of finished shards
 * that could not be read, downloaded or decoded (skipped, as `predict` skips them).
 */
export async function runStatus(
  conn: Redis,
  run: string,
): Promise<{ shards: number; counts: Record<string, number>; failed: { shard: string; error: string }[]; unreadable: number }> {
  const meta = await conn.hgetall(runKey(run));
  if (!meta['shards']) throw new OptionError(`no run named "${run}" on this Redis`);
  const queue = new Queue<ShardData>(QUEUE_NAME, { connection: conn });
  const counts: Record<string, number> = {};
  const failed: { shard: string; error: string }[] = [];
  let unreadable = 0;
  for (const state of ['waiting', 'active', 'delayed', 'completed', 'failed'] as const) {
    const jobs = (await queue.getJobs([state])).filter((j) => j?.data.run === run);
    counts[state] = jobs.length;
    if (state === 'failed') for (const j of jobs) failed.push({ shard: j.id ?? '?', error: j.failedReason });
    if (state === 'completed') for (const j of jobs) unreadable += (j.returnvalue as { unreadable?: number } | null)?.unreadable ?? 0;
  }
  await queue.close();
  return { shards: Number(meta['shards']), counts, failed, unreadable };
}

/** Concatenates a finished run's shard files in order into one JSON Lines text. */
export async function collectRun(conn: Redis, run: string): Promise<string> {
  const meta = await conn.hgetall(runKey(run));
  if (!meta['shards']) throw new OptionError(`no run named "${run}" on this Redis`);
  const parts: string[] = [];
  const missing: number[] = [];
  for (let i = 0; i < Number(meta['shards']); i++) {
    const p = shardPath(meta['out']!, run, i);
    if (existsSync(p)) parts.push(readFileSync(p, 'utf8'));
    else missing.push(i);
  }
  if (missing.length)
    throw new OptionError(
      `run "${run}" is not finished: ${missing.length} of ${meta['shards']} shards have no results yet (e.g. shard ${missing[0]})`,
    );
  return parts.join('');
}
