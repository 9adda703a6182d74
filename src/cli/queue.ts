/**
 * `googlenet queue submit|status|collect` and `googlenet worker`: prediction over many machines
 * through BullMQ on Redis (see `src/queue/queue-node.ts` for the guarantees).
 */
import type { Command } from 'commander';
import {
  collectRun,
  connectRedis,
  getLimits,
  limitEnvName,
  OptionError,
  runStatus,
  startWorker,
  submitRun,
  writeFileAtomic,
} from '../index.js';
import { action, addModelFlags, intOption, loadFromFlags, log, printJson, workersOption, type ModelFlags } from './common.js';

const REDIS_HELP = 'the Redis server, e.g. redis://127.0.0.1:6379';

async function withRedis<T>(url: string | undefined, fn: (conn: Awaited<ReturnType<typeof connectRedis>>) => Promise<T>): Promise<T> {
  if (!url) throw new OptionError('--redis: give the Redis URL, e.g. redis://127.0.0.1:6379', { option: '--redis' });
  const conn = await connectRedis(url);
  try {
    return await fn(conn);
  } finally {
    conn.disconnect();
  }
}

function registerQueue(program: Command): void {
  const queue = program.command('queue').description('shard a prediction run over workers on other machines (BullMQ on Redis)');
  queue
    .command('submit')
    .description('enqueue the images of files and folders, and http(s) URLs, as shards of one run')
    .argument('[paths...]', 'image files, folders or http(s) URLs')
    .option(
      '--list <file>',
      'also a text file of files, folders or URLs, one a line (blank lines and # comments skipped), after the arguments',
    )
    .option('--redis <url>', REDIS_HELP)
    .requiredOption('--name <run>', 'the run name (jobs are <run>#<shard>; submitting again adds nothing)')
    .requiredOption('--out-dir <dir>', 'a folder every worker can write: shard results go to <dir>/<run>/')
    .option(
      '--shard-size <n>',
      'files per shard',
      intOption('--shard-size', 1, getLimits().maxShardFiles, `the maxShardFiles limit; raise it with ${limitEnvName('maxShardFiles')}`),
      1000,
    )
    .option('--recursive', 'also read sub-folders', false)
    .action(
      action(
        async (
          paths: string[],
          f: { redis?: string; list?: string; name: string; outDir: string; shardSize: number; recursive: boolean },
        ) => {
          const list = f.list !== undefined ? { list: f.list } : {};
          const r = await withRedis(f.redis, (c) =>
            submitRun(c, { run: f.name, paths, ...list, out: f.outDir, shardSize: f.shardSize, recursive: f.recursive }),
          );
          log(`googlenet queue: run ${f.name}: ${r.files} files in ${r.shards} shards`);
        },
      ),
    );
  queue
    .command('status')
    .description("a run's shards by state, with the errors of failed ones (JSON)")
    .argument('<run>')
    .option('--redis <url>', REDIS_HELP)
    .action(action(async (run: string, f: { redis?: string }) => printJson(await withRedis(f.redis, (c) => runStatus(c, run)))));
  queue
    .command('collect')
    .description("merge a finished run's shard results, in file order, into one JSON Lines file")
    .argument('<run>')
    .option('--redis <url>', REDIS_HELP)
    .requiredOption('--out <file>', 'the merged results.jsonl')
    .action(
      action(async (run: string, f: { redis?: string; out: string }) => {
        const text = await withRedis(f.redis, (c) => collectRun(c, run));
        writeFileAtomic(f.out, new TextEncoder().encode(text), { what: 'results' });
        log(`googlenet queue: run ${run}: ${text ? text.trimEnd().split('\n').length : 0} results → ${f.out}`);
      }),
    );
  queue.commands.forEach((c) => c.option('--verbose', 'print stack traces on errors'));
}

type WorkerFlags = ModelFlags & {
  redis?: string;
  outDir: string;
  allow?: string[];
  allowUrlPrefix?: string[];
  lockMs: number;
  batch: number;
  workers?: number;
  fetchTimeoutMs: number;
};

function registerWorker(program: Command): void {
  addModelFlags(program.command('worker').description('take shards from the queue and predict them until SIGTERM'))
    .option('--redis <url>', REDIS_HELP)
    .requiredOption(
      '--out-dir <dir>',
      "the only folder results are written in: a shard whose <out-dir>/<run>/ resolves (symlinks followed) elsewhere fails; give submit's --out-dir or a folder above it",
    )
    .option(
      '--allow <dirs...>',
      'folders whose images (symlinks followed) a shard may list (default, with no --allow and no --allow-url-prefix: any file the worker can read, any http(s) URL; with either, only what they list)',
    )
    .option(
      '--allow-url-prefix <prefixes...>',
      'http(s) URL prefixes a shard may fetch (end one with / for a folder; default: see --allow)',
    )
    .option('--lock-ms <ms>', 'a worker silent this long is taken as dead and its shard retried', intOption('--lock-ms'), 30_000)
    .option('--batch <n>', 'images per model call', intOption('--batch'), 16)
    .option(
      '--workers <n>',
      'threads that read, download and decode pictures ahead of the model (default 2 on more than 2 cores, else 0: the main thread)',
      workersOption(),
    )
    .option(
      '--fetch-timeout-ms <ms>',
      'time to download one URL; a URL that takes longer is skipped as unreadable',
      intOption('--fetch-timeout-ms'),
      30_000,
    )
    .action(
      action(async (f: WorkerFlags) => {
        if (!f.redis) throw new OptionError('--redis: give the Redis URL, e.g. redis://127.0.0.1:6379', { option: '--redis' });
        const conn = await connectRedis(f.redis);
        let net: Awaited<ReturnType<typeof loadFromFlags>> | undefined;
        let worker: ReturnType<typeof startWorker>;
        try {
          net = await loadFromFlags(f);
          worker = startWorker(conn, net, {
            outDir: f.outDir,
            ...(f.allow ? { allow: f.allow } : {}),
            ...(f.allowUrlPrefix ? { allowUrlPrefixes: f.allowUrlPrefix } : {}),
            lockMs: f.lockMs,
            batch: f.batch,
            ...(f.workers !== undefined ? { workers: f.workers } : {}),
            fetchTimeoutMs: f.fetchTimeoutMs,
            log: (m) => log(`googlenet worker: ${m}`),
          });
        } catch (e) {
          // A bad --model, --out-dir or --allow: close what is open, or the process never ends.
          await net?.dispose();
          conn.disconnect();
          throw e;
        }
        log(`googlenet worker: waiting for shards on ${f.redis}, writing only in ${f.outDir}`);
        await new Promise<void>((resolve) => {
          const stop = () => void worker.close().then(resolve);
          process.once('SIGTERM', stop);
          process.once('SIGINT', stop);
        });
        await net.dispose();
        conn.disconnect();
        log('googlenet worker: stopped');
      }),
    );
}

export function register(program: Command): void {
  registerQueue(program);
  registerWorker(program);
}
