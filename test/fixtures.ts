/**
 * Locates the torchvision GoogLeNet reference fixtures (see
 * `../shared/fixtures/torchvision-googlenet/README.md`; `scripts/make-fixtures.py` writes a set
 * of them). A set is one folder, all from one random draw: `$GOOGLENET_FIXTURES` when set, else
 * the first of `<repo>/test/fixtures/torchvision-googlenet/` and
 * `<repo>/../shared/fixtures/torchvision-googlenet/` that holds a set (its `meta.json`). Files
 * never come from two folders: weights of one draw against outputs of another would fail.
 * Tests that need a missing fixture skip with {@link missingFixture}'s message.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));

/** The folders searched, in order. */
function fixtureDirs(): string[] {
  const env = process.env['GOOGLENET_FIXTURES'];
  if (env) return [env];
  return [join(repo, 'test', 'fixtures', 'torchvision-googlenet'), join(repo, '..', 'shared', 'fixtures', 'torchvision-googlenet')];
}

/** The folder of the fixture set in use, or undefined if there is none. */
function fixtureDir(): string | undefined {
  const dirs = fixtureDirs();
  return process.env['GOOGLENET_FIXTURES'] ? dirs[0] : dirs.find((d) => existsSync(join(d, 'meta.json')));
}

/** The path of fixture `name` (e.g. `googlenet-tv-aux10.safetensors`), or undefined if absent. */
export function fixturePath(name: string): string | undefined {
  const dir = fixtureDir();
  return dir !== undefined && existsSync(join(dir, name)) ? join(dir, name) : undefined;
}

/** The skip message for a missing fixture. */
export function missingFixture(name: string): string {
  const where = fixtureDir() ?? fixtureDirs().join(' or ');
  return `missing fixture ${name} in ${where}: run python3 scripts/make-fixtures.py (needs python3-torch, python3-torchvision)`;
}
