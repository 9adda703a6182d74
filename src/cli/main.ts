#!/usr/bin/env node
/** The `googlenet` command: each sub-command lives in its own file (the tree: program.ts) and calls the library. */
import { limitsFromEnv, setLimits } from '../index.js';
import { relayLongArgv } from './argv-relay.js';
import { quietOnClosedStdout } from './common.js';
import { buildProgram } from './program.js';

if (await relayLongArgv()) process.exit();
quietOnClosedStdout();
try {
  // GOOGLENET_MAX_IMAGE_PIXELS=… and the like raise a size limit (README: Limits).
  setLimits(limitsFromEnv(process.env));
} catch (e) {
  process.stderr.write(`googlenet: ${(e as Error).message}\n`);
  process.exit(1);
}

await buildProgram().parseAsync(process.argv);
