/**
 * `googlenet worker`'s core: takes shards from the queue (see `queue-node.ts`) and predicts them,
 * doing only what its own options allow whatever the queue holds. Any client that reaches Redis
 * can write a job, so before a shard is read or written the worker checks it: the job's stored
 * JSON is bounded and parsable (`GuardedJob`), its data has the shape `submitRun` writes
 * (`shardDataProblem`), every file and URL is one the worker may read or fetch (`allow`,
 * `allowUrlPrefixes`), and its results folder resolves, symlinks followed, inside `outDir`. A job
 * that breaks a rule fails at once, unread and unwritten, with the reason as its failed reason
 * (BullMQ's `UnrecoverableError`: no retries), and the worker takes the next one.
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { lstatSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { FileWriteError, OptionError } from '../errors.js';
import { writeFileAtomic } from '../files-node.js';
import type { Classifier } from '../infer/classifier.js';
import { isImageUrl } from '../image/decode-node.js';
import { DecodePool, defaultDecodeWorkers } from '../infer/decode-pool-node.js';
import { predictFiles } from '../infer/predict-files-node.js';
import { GuardedJob, QUEUE_NAME, unreadableReason } from './queue-node.js';
import { shardDataProblem, shardFileName, type ShardData } from './shard-job.js';

/** Options of {@link startWorker}. */
export interface WorkerOptions {
  /**
   * The folder the worker writes in (created if missing): a shard's results folder
   * `<out>/<run>/` must resolve, symlinks followed, to this folder or below it, else the job
   * fails. Give the `--out-dir` of `submit`, or a folder above it. Required.
   */
  outDir: string;
  /**
   * Folders whose files (symlinks followed) a job may list. Default: when neither this nor
   * `allowUrlPrefixes` is given, any file this process can read and any http(s) URL; when
   * either is given, only what they list.
   */
  allow?: readonly string[];
  /** http(s) URL prefixes a job may fetch, compared with the URL as normalised by `new URL()` (end one with `/` for a folder). Default: see `allow`. */
  allowUrlPrefixes?: readonly string[];
  /** Lock time of a job in ms: a worker silent this long is taken as dead and its shard retried. Default 30000. */
  lockMs?: number;
  batch?: number;
  /** Threads that read, download and decode pictures ahead of the model, kept for the worker's life; 0: the main thread. Default 2 on more than 2 cores, else 0. */
  workers?: number;
  /** Time to download one URL, in ms. Default 30000. */
  fetchTimeoutMs?: number;
  log?: (msg: string) => void;
}

/** What a worker may touch: real paths of its results folder and allowed folders, normalised URL prefixes. */
interface Reach {
  root: string;
  /** `undefined`: anything (neither `allow` nor `allowUrlPrefixes` given). */
  dirs?: string[];
  urls?: string[];
}

/**
 * `p` (made absolute) with every symlink of the part that exists resolved, and the part that
 * does not exist yet as written; `undefined` when a part exists but cannot be resolved (a link
 * to nowhere, a loop, a folder this process may not search).
 */
function realPathSoFar(p: string): string | undefined {
  const rest: string[] = [];
  for (let cur = resolve(p); ; cur = dirname(cur)) {
    try {
      return join(realpathSync(cur), ...rest);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return undefined;
      try {
        if (lstatSync(cur, { throwIfNoEntry: false })) return undefined; // there, but a link to nowhere
      } catch {
        // ENOTDIR: a file stands where a folder should; mkdir will say so
      }
    }
    if (dirname(cur) === cur) return undefined;
    rest.unshift(basename(cur));
  }
}

const inside = (root: string, p: string) => p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);

/** The worker's reach from its options, or an OptionError / FileWriteError naming the flag. */
function reachOf(o: WorkerOptions): Reach {
  try {
    mkdirSync(o.outDir, { recursive: true });
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new FileWriteError(`--out-dir ${o.outDir}: the results folder cannot be created (${why})`, { file: o.outDir });
  }
  const root = realpathSync(o.outDir);
  if (!o.allow && !o.allowUrlPrefixes) return { root };
  const dirs = (o.allow ?? []).map((d) => {
    const real = realPathSoFar(d);
    if (!real || !statSync(real, { throwIfNoEntry: false })?.isDirectory())
      throw new OptionError(`--allow ${d}: not a folder`, { option: '--allow', file: d });
    return real;
  });
  const urls = (o.allowUrlPrefixes ?? []).map((u) => {
    if (!isImageUrl(u) || !URL.canParse(u))
      throw new OptionError(`--allow-url-prefix: expected an http(s) URL, received "${u}"`, { option: '--allow-url-prefix' });
    return new URL(u).href;
  });
  return { root, dirs, urls };
}

/** Why the worker may not read or fetch `file`, or `undefined`. */
function reachProblem(file: string, reach: Reach): string | undefined {
  if (!reach.dirs || !reach.urls) return undefined;
  if (isImageUrl(file)) {
    const href = new URL(file).href;
    return reach.urls.some((u) => href.startsWith(u)) ? undefined : `${file} is under no --allow-url-prefix`;
  }
  const real = realPathSoFar(file);
  return real && reach.dirs.some((d) => inside(d, real))
    ? undefined
    : `${file} is in no --allow folder${real && real !== file ? ` (it is ${real})` : ''}`;
}

/** The results folder of a shard job, when it resolves inside the worker's `--out-dir`; else the reason. */
function resultsFolder(data: ShardData, reach: Reach): { dir: string } | { why: string } {
  const dir = join(data.out, data.run);
  const real = realPathSoFar(dir);
  if (real && inside(reach.root, real)) return { dir };
  return { why: `the results folder ${dir} ${real ? `is ${real}, ` : 'cannot be resolved, '}outside the worker's --out-dir ${reach.root}` };
}

/** `job`'s data and results folder once every check passes; else an UnrecoverableError with the reason (the job fails, untouched). */
function admit(job: Job<unknown>, reach: Reach, log: ((m: string) => void) | undefined): { data: ShardData; dir: string } {
  const refuse = (why: string): never => {
    log?.(`refused job ${JSON.stringify(job.id)}: ${why}`);
    throw new UnrecoverableError(`refused: ${why}`);
  };
  const why = unreadableReason(job) ?? shardDataProblem(job.data, job.id);
  if (why) refuse(why);
  const data = job.data as ShardData;
  for (const f of data.files) {
    const no = reachProblem(f, reach);
    if (no) refuse(no);
  }
  const out = resultsFolder(data, reach);
  if ('why' in out) return refuse(out.why);
  return { data, dir: out.dir };
}

/** A BullMQ worker whose jobs are read by `GuardedJob` (bounded, parse failures recorded). */
class ShardWorker extends Worker<unknown> {
  protected override get Job(): typeof GuardedJob {
    return GuardedJob;
  }
}

/**
 * Takes shards until closed; returns the BullMQ worker (`close()` it to stop after the current
 * shard). Throws an OptionError or FileWriteError when `outDir` cannot be created or an `allow`
 * entry is not a folder or an http(s) URL.
 */
export function startWorker(conn: Redis, net: Classifier, o: WorkerOptions): Worker<unknown> {
  const reach = reachOf(o);
  const lock = o.lockMs ?? 30_000;
  const workers = o.workers ?? defaultDecodeWorkers();
  const timeout = o.fetchTimeoutMs !== undefined ? { fetchTimeoutMs: o.fetchTimeoutMs } : {};
  const pool = workers > 0 ? DecodePool.forClassifier(net, { workers, ...timeout }) : undefined;
  const worker = new ShardWorker(
    QUEUE_NAME,
    async (job: Job<unknown>) => {
      const { data, dir } = admit(job, reach, o.log);
      const { run, shard, files } = data;
      o.log?.(`shard ${run}:${shard}: ${files.length} files`);
      mkdirSync(dir, { recursive: true });
      const real = realPathSoFar(dir); // again, now that it exists: a link made meanwhile is refused too
      if (!real || !inside(reach.root, real))
        throw new UnrecoverableError(`refused: the results folder ${dir} left --out-dir ${reach.root}`);
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
      writeFileAtomic(join(real, shardFileName(shard)), new TextEncoder().encode(lines.map((l) => l + '\n').join('')), {
        what: 'shard results',
      });
      o.log?.(`shard ${run}:${shard}: done`);
      return { lines: lines.length, unreadable: counts.failed };
    },
    { connection: conn, concurrency: 1, lockDuration: lock, stalledInterval: lock, maxStalledCount: 2 },
  );
  worker.on('error', () => undefined);
  worker.on('closed', () => void pool?.close());
  return worker;
}
