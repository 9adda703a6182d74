// The public API: both entries export the shared list and the same verbs, and docs/API.md
// describes every name they export.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { build } from 'esbuild';
import ts from 'typescript';

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

/** Each published entry, as `package.json` maps it. */
const ENTRIES = { 'googlenet-ts': 'src/index.ts', 'googlenet-ts/browser': 'src/web/index.ts', 'googlenet-ts/advanced': 'src/advanced.ts' };

/**
 * Every name an entry exports, types included, and for a namespace (`data`, `layers`) its members:
 * what a user can import, read by the TypeScript checker rather than from the source's words.
 */
function surfaces(): Record<string, Map<string, string[] | null>> {
  const program = ts.createProgram(
    Object.values(ENTRIES).map((f) => root + f),
    { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, noEmit: true },
  );
  const checker = program.getTypeChecker();
  const exportsOf = (s: ts.Symbol): ts.Symbol[] => checker.getExportsOfModule(s);
  const out: Record<string, Map<string, string[] | null>> = {};
  for (const [entry, file] of Object.entries(ENTRIES)) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(root + file)!)!;
    const names = new Map<string, string[] | null>();
    for (const e of exportsOf(module)) {
      const target = e.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(e) : e;
      names.set(e.name, target.flags & ts.SymbolFlags.ValueModule ? exportsOf(target).map((m) => m.name) : null);
    }
    out[entry] = names;
  }
  return out;
}

/** The text of a `## heading` section (up to the next heading of its level or above). */
function section(doc: string, heading: string): string {
  const at = doc.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `docs/API.md has no "${heading}"`);
  const level = /^#+/.exec(heading)![0];
  const next = doc.slice(at + heading.length + 2).search(new RegExp(`^#{1,${level.length}} `, 'm'));
  return next < 0 ? doc.slice(at) : doc.slice(at, at + heading.length + 2 + next);
}
const named = (text: string, name: string): boolean => text.includes('`' + name + '`') || text.includes('`' + name + '(');

test('every name of every entry and every namespace member is in docs/API.md, each where its entry is described', () => {
  const doc = readFileSync(root + 'docs/API.md', 'utf8');
  const advancedDoc = section(doc, '## googlenet-ts/advanced');
  const mainDoc = doc.replace(advancedDoc, '');
  const missing: string[] = [];
  for (const [entry, names] of Object.entries(surfaces())) {
    for (const [name, members] of names) {
      if (!named(entry === 'googlenet-ts/advanced' ? advancedDoc : mainDoc, name)) missing.push(`${entry}: ${name}`);
      if (!members) continue;
      const heading = doc.includes(`\n## The \`${name}\` namespace (Node)\n`)
        ? `## The \`${name}\` namespace (Node)`
        : `## The \`${name}\` namespace`;
      const text = section(doc, heading);
      for (const m of members) if (!named(text, m)) missing.push(`${entry}: ${name}.${m}`);
    }
  }
  assert.deepEqual(
    missing,
    [],
    'exported but not described in docs/API.md (advanced names in its own section, namespace members in theirs)',
  );
});

test('docs/API.md describes nothing that is not exported, and the advanced entry repeats no name of the others', () => {
  const doc = readFileSync(root + 'docs/API.md', 'utf8');
  const all = surfaces();
  const exported = new Set(Object.values(all).flatMap((names) => [...names].flatMap(([n, members]) => [n, ...(members ?? [])])));
  // The names a table row describes: the backquoted names (or calls) of its first cell.
  const described = [...doc.matchAll(/^\| ([^|]*(?:\\\|[^|]*)*) \|/gm)].flatMap((row) =>
    [...row[1]!.matchAll(/`([A-Za-z_$][\w$]*)[`(]/g)].map((m) => m[1]!),
  );
  assert.deepEqual(
    [...new Set(described)].filter((n) => !exported.has(n)),
    [],
    'described in docs/API.md but exported by no entry',
  );
  const advanced = [...all['googlenet-ts/advanced']!.keys()];
  const elsewhere = new Set([...all['googlenet-ts']!.keys(), ...all['googlenet-ts/browser']!.keys()]);
  assert.deepEqual(
    advanced.filter((n) => elsewhere.has(n)),
    [],
    'one entry per name',
  );
});
