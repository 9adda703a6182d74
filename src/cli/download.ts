/** `googlenet download NAME`: the official dataset files, checksummed (src/data/download-node.ts). */
import type { Command } from 'commander';
import { join, resolve } from 'node:path';
import { DOWNLOAD_NAMES, download } from '../data/download-node.js';
import { action, log, printJson } from './common.js';

interface Flags {
  dir?: string;
  baseUrl?: string;
  keepArchive: boolean;
  json: boolean;
}

export function register(program: Command): void {
  program
    .command('download')
    .description(`download a dataset's official files and verify their MD5 checksums: ${DOWNLOAD_NAMES.join(', ')}`)
    .argument('<name>', DOWNLOAD_NAMES.join(', '))
    .option('--dir <dir>', 'target folder, then passed as --data (default data/<name>)')
    .option('--base-url <url>', 'a mirror serving the same file names (default: the official servers)')
    .option('--keep-archive', 'keep the CIFAR .tar.gz after extracting it', false)
    .option('--json', 'print one JSON object (dir, files, skipped)', false)
    .action(
      action(async (name: string, f: Flags) => {
        const dir = resolve(f.dir ?? join('data', name));
        const r = await download(name, dir, {
          ...(f.baseUrl ? { baseUrl: f.baseUrl } : {}),
          keepArchive: f.keepArchive,
          log,
        });
        if (f.json) {
          printJson(r);
          return;
        }
        process.stdout.write(
          `${name}: ${r.files.length} file(s) in ${r.dir}${r.skipped.length ? ` (${r.skipped.length} already there)` : ''}\n`,
        );
        process.stdout.write(`use: --dataset ${name} --data ${r.dir}\n`);
      }),
    );
}
