#!/usr/bin/env node
/** The `googlenet` command: each sub-command lives in its own file and calls the library. */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { limitsFromEnv, setLimits } from '../index.js';
import { relayLongArgv } from './argv-relay.js';
import { quietOnClosedStdout } from './common.js';
import { register as registerDownload } from './download.js';
import { register as registerEval } from './eval.js';
import { register as registerExport } from './export.js';
import { register as registerImport } from './import.js';
import { register as registerPredict } from './predict.js';
import { register as registerQuantize } from './quantize.js';
import { register as registerQueue } from './queue.js';
import { register as registerServe } from './serve.js';
import { register as registerSummary } from './summary.js';
import { register as registerTrain } from './train.js';
import { register as registerWeights } from './weights.js';

if (await relayLongArgv()) process.exit();
quietOnClosedStdout();
try {
  // GOOGLENET_MAX_IMAGE_PIXELS=… and the like raise a size limit (README: Limits).
  setLimits(limitsFromEnv(process.env));
} catch (e) {
  process.stderr.write(`googlenet: ${(e as Error).message}\n`);
  process.exit(1);
}

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
const program = new Command('googlenet')
  .description('GoogLeNet (Inception v1) in TypeScript on ONNX Runtime')
  .version(pkg.version)
  .option('--verbose', 'print stack traces on errors')
  .showHelpAfterError(false)
  // Commander wraps a parser's message ("option '--top-k <k>' argument '0' is invalid. …"); ours
  // already names the flag and the value, so print it alone.
  .configureOutput({
    outputError: (s, write) =>
      write(`googlenet: ${s.replace(/^error: /, '').replace(/^option '[^']*' argument '.*?' is invalid\. /s, '')}`),
  });

for (const register of [
  registerSummary,
  registerPredict,
  registerServe,
  registerQueue,
  registerImport,
  registerExport,
  registerQuantize,
  registerTrain,
  registerEval,
  registerDownload,
  registerWeights,
])
  register(program);
program.commands.forEach((c) => c.option('--verbose', 'print stack traces on errors').configureOutput(program.configureOutput()));
await program.parseAsync(process.argv);
