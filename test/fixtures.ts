/**
 * Locates the torchvision GoogLeNet reference fixtures (see
 * `../shared/fixtures/torchvision-googlenet/README.md`). Looks, in order, in
 * `$GOOGLENET_FIXTURES`, `<repo>/test/fixtures/torchvision-googlenet/` and
 * `<repo>/../shared/fixtures/torchvision-googlenet/`. Tests that need a missing fixture skip
 * with {@link missingFixture}'s message.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));

/** The folders searched, in order. */
export function fixtureDirs(): string[] {
  const env = process.env['GOOGLENET_FIXTURES'];
  return [
    ...(env ? [env] : []),
    join(repo, 'test', 'fixtures', 'torchvision-googlenet'),
    join(repo, '..', 'shared', 'fixtures', 'torchvision-googlenet'),
  ];
}

/** The path of fixture `name` (e.g. `googlenet-tv-aux10.safetensors`), or undefined if absent. */
export function fixturePath(name: string): string | undefined {
  return fixtureDirs()
    .map((d) => join(d, name))
    .find((p) => existsSync(p));
}

/** The skip message for a missing fixture. */
export function missingFixture(name: string): string {
  return `missing ${name}: run python3 scripts/make-fixtures.py (needs python3-torch)`;
}
