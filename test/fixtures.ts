/**
 * Locates the torchvision reference fixtures: the GoogLeNet set (see
 * `../shared/fixtures/torchvision-googlenet/README.md`) and the Inception v3 set (its files are
 * described in `scripts/make-fixtures.py`, which writes both). A set is one folder, all from one
 * random draw: for GoogLeNet `$GOOGLENET_FIXTURES` when set, else the first of
 * `<repo>/test/fixtures/<set>/` and `<repo>/../shared/fixtures/<set>/` that holds a set (its
 * `meta.json`). Files never come from two folders: weights of one draw against outputs of another
 * would fail. Tests that need a missing fixture skip with {@link missingFixture}'s message.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));

/** The fixture sets: torchvision's GoogLeNet and Inception v3. */
export type FixtureSet = 'torchvision-googlenet' | 'torchvision-inception-v3';

/** The folders searched for a set, in order. */
function fixtureDirs(set: FixtureSet = 'torchvision-googlenet'): string[] {
  const env = set === 'torchvision-googlenet' ? process.env['GOOGLENET_FIXTURES'] : undefined;
  if (env) return [env];
  return [join(repo, 'test', 'fixtures', set), join(repo, '..', 'shared', 'fixtures', set)];
}

/** The folder of the set in use, or undefined if there is none. */
function fixtureDir(set: FixtureSet = 'torchvision-googlenet'): string | undefined {
  const dirs = fixtureDirs(set);
  return set === 'torchvision-googlenet' && process.env['GOOGLENET_FIXTURES']
    ? dirs[0]
    : dirs.find((d) => existsSync(join(d, 'meta.json')));
}

/** The path of fixture `name` (e.g. `googlenet-tv-aux10.safetensors`) in a set, or undefined if absent. */
export function fixturePath(name: string, set: FixtureSet = 'torchvision-googlenet'): string | undefined {
  const dir = fixtureDir(set);
  return dir !== undefined && existsSync(join(dir, name)) ? join(dir, name) : undefined;
}

/** The skip message for a missing fixture. */
export function missingFixture(name: string, set: FixtureSet = 'torchvision-googlenet'): string {
  const where = fixtureDir(set) ?? fixtureDirs(set).join(' or ');
  return `missing fixture ${name} in ${where}: run python3 scripts/make-fixtures.py (needs python3-torch, python3-torchvision)`;
}

/** The sign (±1) of element `i` in gradient projection `k`: make-fixtures.py's integer hash, in uint32 arithmetic. */
function projectionSign(i: number, k: number): 1 | -1 {
  const h = (Math.imul(i, 2654435761) + k * 40503 + 1) >>> 0;
  return (h >>> 13) & 1 ? 1 : -1;
}

/** The `k` signed sums of a gradient that make-fixtures.py stores as `proj.<name>` (see its `projections`). */
export function gradientProjections(g: ArrayLike<number>, k = 4): Float64Array {
  const out = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    let s = 0;
    for (let i = 0; i < g.length; i++) s += projectionSign(i, j) * g[i]!;
    out[j] = s;
  }
  return out;
}
