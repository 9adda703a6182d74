// The one map of the layout (CONTRIBUTING.md) against the tree: every top-level entry of src/ has
// its line, and every line names something that exists. `.dependency-cruiser.cjs` reads the same
// map as the layer order, so an entry missing here would also be missing from the import rules.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';

const root = new URL('..', import.meta.url).pathname;
const { readLayoutMap } = createRequire(import.meta.url)('../scripts/layout-map.cjs') as {
  readLayoutMap(root: string): { src: string[]; outside: string[] };
};

test('the layout map in CONTRIBUTING.md names every top-level entry of src/, once, and nothing that is gone', () => {
  const map = readLayoutMap(root);
  const tree = readdirSync(join(root, 'src'), { withFileTypes: true })
    .filter((e) => e.isDirectory() || (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')))
    .map((e) => (e.isDirectory() ? `${e.name}/` : e.name));
  assert.deepEqual(
    tree.filter((e) => !map.src.includes(e)),
    [],
    'in src/ but not on the map: give each its line, below everything it imports',
  );
  assert.deepEqual(
    map.src.filter((e) => !tree.includes(e)),
    [],
    'on the map but not in src/',
  );
  assert.deepEqual(
    map.src.filter((e, i) => map.src.indexOf(e) !== i),
    [],
    'on the map twice',
  );
  assert.deepEqual(
    map.outside.filter((e) => !existsSync(join(root, e))),
    [],
    'on the map but not in the repository',
  );
});

test('the README links to the map instead of keeping its own', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  assert.match(readme, /CONTRIBUTING\.md#layout-in-the-order-data-flows/);
  assert.doesNotMatch(readme, /^src\/\w+\/\s/m, 'the README lists folders of src/ again');
});
