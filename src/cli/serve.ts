/** `googlenet serve`: the model behind HTTP (classification, KServe v2, Prometheus), until SIGTERM. */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { action, addModelFlags, intOption, loadFromFlags, log, type ModelFlags } from './common.js';
import { BATCHER_DEFAULTS, createServer, OptionError, SERVE_DEFAULTS } from '../index.js';

interface Flags extends ModelFlags {
  port: number;
  host: string;
  name: string;
  maxBatch: number;
  maxDelayMs: number;
  maxQueue: number;
  maxBody: number;
  maxPixels: number;
  timeoutMs: number;
}

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3, g: 1024 ** 3 };

/** `20mb`, `512kb`, `1048576` → bytes. */
function sizeOption(flag: string): (v: string) => number {
  return (v) => {
    const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(v.trim());
    const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
    const n = m && unit ? Math.floor(Number(m[1]) * unit) : NaN;
    if (!Number.isFinite(n) || n < 1)
      throw new InvalidArgumentError(`${flag} expects a size such as 20mb, 512kb or 1048576, received "${v}"`);
    return n;
  };
}

export function register(program: Command): void {
  addModelFlags(program.command('serve').description('serve the model over HTTP: /v1/classify, KServe v2 (/v2/…), /metrics'))
    .option('--port <n>', 'TCP port (0: any free one)', intOption('--port', 0), 8080)
    .option('--host <addr>', 'address to listen on (0.0.0.0 for every interface)', '127.0.0.1')
    .option('--name <name>', 'the model name in /v2/models/{name}', SERVE_DEFAULTS.name)
    .option('--max-batch <n>', 'most images per model call (dynamic batching)', intOption('--max-batch'), BATCHER_DEFAULTS.maxBatch)
    .option(
      '--max-delay-ms <ms>',
      'how long a request waits for others to batch with',
      intOption('--max-delay-ms', 0),
      BATCHER_DEFAULTS.maxDelayMs,
    )
    .option(
      '--max-queue <n>',
      'most images waiting; more are answered 503 with Retry-After',
      intOption('--max-queue'),
      BATCHER_DEFAULTS.maxQueue,
    )
    .option('--max-body <size>', 'largest request body (413 above it)', sizeOption('--max-body'), SERVE_DEFAULTS.maxBody)
    .option('--max-pixels <n>', 'largest image, width × height (400 above it)', intOption('--max-pixels'), SERVE_DEFAULTS.maxPixels)
    .option(
      '--timeout-ms <ms>',
      'most time a request waits in the queue (504 after it)',
      intOption('--timeout-ms'),
      BATCHER_DEFAULTS.timeoutMs,
    )
    .action(
      action(async (f: Flags) => {
        if (f.port > 65535) throw new OptionError(`--port expects 0 to 65535, received ${f.port}`, { option: '--port' });
        const net = await loadFromFlags(f);
        const server = await createServer(net, {
          name: f.name,
          maxBatch: f.maxBatch,
          maxDelayMs: f.maxDelayMs,
          maxQueue: f.maxQueue,
          maxBody: f.maxBody,
          maxPixels: f.maxPixels,
          timeoutMs: f.timeoutMs,
        });
        const url = await server.listen({ port: f.port, host: f.host }).catch(async (e: NodeJS.ErrnoException) => {
          await server.close();
          throw new OptionError(`--host ${f.host} --port ${f.port}: cannot listen there (${e.code ?? e.message})`, { option: '--port' });
        });
        const cfg = net.model.config;
        log(
          `googlenet serve: ${f.name} (${cfg.numClasses} classes, ${cfg.inChannels}×${cfg.inputSize}×${cfg.inputSize}) listening on ${url}`,
        );
        await new Promise<void>((resolve) => {
          const stop = (signal: string) => {
            log(`googlenet serve: ${signal}: finishing requests in flight, then exiting`);
            process.removeAllListeners('SIGTERM').removeAllListeners('SIGINT');
            void server
              .close()
              .then(() => net.dispose())
              .then(resolve);
          };
          process.once('SIGTERM', () => stop('SIGTERM'));
          process.once('SIGINT', () => stop('SIGINT'));
        });
        log('googlenet serve: stopped');
      }),
    );
}
