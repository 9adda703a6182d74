#!/usr/bin/env node
/** The `googlenet` command: each sub-command lives in its own file and calls the library. */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { register as registerExport } from './export.js';
import { register as registerImport } from './import.js';
import { register as registerPredict } from './predict.js';
import { register as registerSummary } from './summary.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
const program = new Command('googlenet')
  .description('GoogLeNet (Inception v1) in TypeScript on ONNX Runtime')
  .version(pkg.version)
  .option('--verbose', 'print stack traces on errors')
  .showHelpAfterError(false)
  .configureOutput({ outputError: (s, write) => write(`googlenet: ${s.replace(/^error: /, '')}`) });

for (const register of [registerSummary, registerPredict, registerImport, registerExport]) register(program);
program.commands.forEach((c) => c.option('--verbose', 'print stack traces on errors').configureOutput(program.configureOutput()));
await program.parseAsync(process.argv);
