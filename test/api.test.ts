// The public API: both entries export the shared list and the same verbs, and docs/API.md
// describes every name they export.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;

async function exportsOf(entry: string, platform: 'node' | 'browser'): Promise<string[]> {
  const r = await build({
    entryPoints: [root + entry],
    bundle: true,
    platform,
    format: 'esm',
    write: false,
    metafile: true,
    packages: 'external',
    logLevel: 'silent',
    outdir: '/nonexistent',
  });
  const out = Object.values(r.metafile.outputs).find((o) => o.entryPoint);
  assert.ok(out, entry);
  return out.exports.sort();
}

test('Node and browser entries share the public list and the load()/loadModel() verbs; docs/API.md names every export', async () => {
  const [shared, node, browser] = await Promise.all([
    exportsOf('src/api.ts', 'browser'),
    exportsOf('src/index.ts', 'node'),
    exportsOf('src/web/index.ts', 'browser'),
  ]);
  for (const name of [...shared, 'load', 'loadModel']) {
    assert.ok(node.includes(name), `googlenet-ts lacks ${name}`);
    assert.ok(browser.includes(name), `googlenet-ts/browser lacks ${name}`);
  }
  const doc = readFileSync(root + 'docs/API.md', 'utf8');
  const missing = [...new Set([...node, ...browser])].filter((name) => !doc.includes('`' + name + '`') && !doc.includes('`' + name + '('));
  assert.deepEqual(missing, [], 'exported but not in docs/API.md');
});
