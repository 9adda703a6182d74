/**
 * Preloaded (`node --import`) into a CLI run by `cliMeasured` (test/cli-run.ts): at exit, writes
 * the process's peak resident memory in bytes (getrusage's ru_maxrss) to the file that
 * GOOGLENET_TEST_MAX_RSS_FILE names. Worker threads are in the process, so they count too.
 */
import { writeFileSync } from 'node:fs';

const out = process.env.GOOGLENET_TEST_MAX_RSS_FILE;
if (out) process.on('exit', () => writeFileSync(out, String(process.resourceUsage().maxRSS * 1024)));
