/**
 * The `googlenet` command tree, built without running it: `main.ts` parses the process's
 * arguments with it, and the fuzzer (test/fuzz-loaders.test.ts) parses random ones in-process.
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { register as registerDownload } from './download.js';
import { register as registerEval } from './eval.js';
import { register as registerExplain } from './explain.js';
import { register as registerExport } from './export.js';
import { register as registerImport } from './import.js';
import { register as registerPredict } from './predict.js';
import { register as registerQuantize } from './quantize.js';
import { register as registerQueue } from './queue.js';
import { register as registerServe } from './serve.js';
import { register as registerSummary } from './summary.js';
import { register as registerTrain } from './train.js';
import { register as registerWeights } from './weights.js';

/** Longest error line printed whole: a 100 KB argument is echoed by its start and end only. */
const MAX_ERROR_LINE = 1000;

/**
 * Commander's error text as the CLI prints it: one line (its "(Did you mean --model?)" hint
 * joins the line), without the "error: " prefix or the wrapper around a parser's own message
 * ("option '--top-k <k>' argument '0' is invalid. …": ours already names the flag and the value).
 */
function oneLineError(s: string): string {
  let line = s
    .replace(/^error: /, '')
    .replace(/^option '[^']*' argument '.*?' is invalid\. /s, '')
    .trim()
    .replace(/\s*\n\s*/g, ' ');
  if (line.length > MAX_ERROR_LINE) line = `${line.slice(0, MAX_ERROR_LINE - 200)} … ${line.slice(-190)}`;
  return `googlenet: ${line}\n`;
}

export function buildProgram(): Command {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const program = new Command('googlenet')
    .description('GoogLeNet (Inception v1) in TypeScript on ONNX Runtime')
    .version(pkg.version)
    .option('--verbose', 'print stack traces on errors')
    .showHelpAfterError(false)
    .configureOutput({ outputError: (s, write) => write(oneLineError(s)) });
  for (const register of [
    registerSummary,
    registerPredict,
    registerExplain,
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
  return program;
}
