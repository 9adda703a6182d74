/**
 * `googlenet weights list | download NAME | info NAME`: the registry of named weights
 * (src/weights/registry.ts), its cache and its downloads (src/weights/hub-node.ts).
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { urlFileName } from '../advanced.js';
import { listWeights, requireWeights, resolveWeights, weightsCacheDir, type WeightsEntry } from '../index.js';
import { action, printJson } from './common.js';

/** An entry with where it lives on this machine: the cached file (or shipped folder) and whether it is there. */
function located(e: WeightsEntry): WeightsEntry & { path: string; cached: boolean } {
  const path = e.url ? join(weightsCacheDir(), urlFileName(e.url)) : (e.modelDir ?? '');
  return { ...e, path, cached: e.url ? existsSync(path) : true };
}

function table(entries: (WeightsEntry & { cached: boolean })[]): string {
  const rows = [
    ['name', 'aliases', 'acc@1', 'acc@5', 'params', 'where', 'description'],
    ...entries.map((e) => [
      e.name,
      (e.aliases ?? []).join(', ') || '-',
      e.metrics ? e.metrics.acc1.toFixed(3) : '-',
      e.metrics ? e.metrics.acc5.toFixed(3) : '-',
      e.params ? e.params.toLocaleString('en-US') : '-',
      e.url ? (e.cached ? 'cached' : 'download') : 'shipped',
      e.description,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

function info(e: WeightsEntry & { path: string; cached: boolean }): string {
  const lines = [`${e.name}${e.aliases?.length ? ` (also ${e.aliases.join(', ')})` : ''}: ${e.description}`];
  if (e.url) lines.push(`url: ${e.url}`, `sha256: ${e.sha256 ?? '(the prefix in the file name, if any)'}…`);
  lines.push(`${e.url ? 'cache' : 'folder'}: ${e.path}${e.url ? (e.cached ? ' (cached)' : ' (not downloaded yet)') : ''}`);
  if (e.options)
    lines.push(
      `options: ${Object.entries(e.options)
        .map(([k, v]) => `${k} ${String(v)}`)
        .join(', ')}`,
    );
  const p = e.preprocessing;
  if (p)
    lines.push(
      `preprocessing: resize ${p.resize} (${p.interpolation}), centre crop ${p.crop}, mean ${p.mean.join('/')}, std ${p.std.join('/')}`,
    );
  if (e.categories)
    lines.push(
      `categories: ${e.categories === 'imagenet' ? 'the 1000 ImageNet classes (assets/imagenet-classes.json)' : `${e.categories.length} classes`}`,
    );
  if (e.metrics) lines.push(`published: acc@1 ${e.metrics.acc1.toFixed(3)}, acc@5 ${e.metrics.acc5.toFixed(3)} on ${e.metrics.dataset}`);
  if (e.params) lines.push(`parameters: ${e.params.toLocaleString('en-US')}${e.gmacs ? `, ${e.gmacs.toFixed(2)} G MACs` : ''}`);
  if (e.source) lines.push(`source: ${e.source}`);
  return lines.join('\n') + '\n';
}

export function register(program: Command): void {
  const weights = program
    .command('weights')
    .description('named pretrained weights: list them, download one into the cache, show what one holds');
  weights
    .command('list')
    .description('the known names (built in, and $GOOGLENET_WEIGHTS_REGISTRY) with their figures and cache state')
    .option('--json', 'print a JSON array of the entries', false)
    .action(
      action((f: { json: boolean }) => {
        const entries = listWeights().map(located);
        if (f.json) printJson(entries);
        else process.stdout.write(table(entries) + `cache: ${weightsCacheDir()}\n`);
      }),
    );
  weights
    .command('download')
    .description('download (once) and verify named weights or a URL into the cache; prints the cached path')
    .argument('<name>', 'a name from `googlenet weights list`, or an http(s) URL')
    .option('--json', 'print one JSON object (name, path); progress stays on stderr', false)
    .action(
      action(async (name: string, f: { json: boolean }) => {
        const r = await resolveWeights(name, { progress: 'auto', option: 'weights download' });
        if (f.json) printJson({ name, path: r.path, kind: r.kind });
        else process.stdout.write(`${r.path}\n`);
      }),
    );
  weights
    .command('info')
    .description('what named weights hold: URL, SHA-256, options, preprocessing, categories, published accuracy')
    .argument('<name>', 'a name from `googlenet weights list`')
    .option('--json', 'print the entry as JSON', false)
    .action(
      action((name: string, f: { json: boolean }) => {
        const e = located(requireWeights(name, 'weights info'));
        if (f.json) printJson(e);
        else process.stdout.write(info(e));
      }),
    );
}
