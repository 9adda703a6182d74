/**
 * Scratch apps for test/consumer/: googlenet-ts packed as it would be published (`npm pack`),
 * installed with the README's documented command into a fresh app outside the repo, either at
 * the versions of the repo's lockfile ('locked') or at the newest ones its ranges allow ('fresh').
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TEMPLATE = fileURLToPath(new URL('app', import.meta.url));

export type Mode = 'locked' | 'fresh';

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Wall-clock milliseconds. */
  ms: number;
}

/** npm's settings that come from where npm looks them up, not from the repo's own `npm test`. */
const KEEP_NPM = new Set([
  'npm_config_cache',
  'npm_config_registry',
  'npm_config_userconfig',
  'npm_config_globalconfig',
  'npm_config_cafile',
  'npm_config_proxy',
  'npm_config_https_proxy',
  'npm_config_noproxy',
  'npm_config_strict_ssl',
]);

/**
 * The environment of a user's shell: without the `npm_*` variables that `npm test` exports (the
 * repo's `ignore-scripts`, its package name, its prefix), so the app's npm reads its own
 * configuration, and with the one flag the README documents for an install without CUDA.
 */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^npm_/i.test(k) || KEEP_NPM.has(k.toLowerCase())) env[k] = v;
  }
  delete env['INIT_CWD'];
  delete env['NODE_TEST_CONTEXT'];
  env['ONNXRUNTIME_NODE_INSTALL'] = 'skip';
  return env;
}

export function run(cmd: string, args: string[], cwd: string, timeoutMs = 300_000): Ran {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd, env: userEnv(), encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  const ms = performance.now() - t0;
  return { status: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}`, ms };
}

/** Why the npm registry cannot be used (undefined when it answers). */
export function registryProblem(): string | undefined {
  const r = run('npm', ['ping'], REPO, 30_000);
  return r.status === 0 ? undefined : `npm ping failed: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`;
}

function newest(dir: string): number {
  let t = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}

/**
 * Packs the package as `npm publish` would, after building dist/ when a source file is newer than
 * it (`npm test` has just built it; the repo's `.npmrc` skips `prepack`). Returns the tarball.
 */
export function pack(dest: string): string {
  const built = join(REPO, 'dist', 'index.js');
  const sources = Math.max(newest(join(REPO, 'src')), statSync(join(REPO, 'tsconfig.build.json')).mtimeMs);
  if (!existsSync(built) || statSync(built).mtimeMs < sources) {
    const b = run('npm', ['run', 'build'], REPO);
    if (b.status !== 0) throw new Error(`npm run build failed:\n${b.stdout}\n${b.stderr}`);
  }
  const r = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], REPO);
  if (r.status !== 0) throw new Error(`npm pack failed:\n${r.stderr}`);
  const [info] = JSON.parse(r.stdout) as { filename: string }[];
  if (!info) throw new Error(`npm pack printed no file:\n${r.stdout}`);
  return join(dest, info.filename);
}

interface Manifest {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

/** The app's tools, at the repo's own ranges (so 'locked' finds them in the lockfile). */
function appManifest(tarball: string): Manifest & { name: string; private: true; type: 'module' } {
  const repo = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as Manifest;
  const dev = repo.devDependencies ?? {};
  const tools = ['vite', 'webpack', '@types/node'];
  return {
    name: 'googlenet-consumer',
    private: true,
    type: 'module',
    dependencies: { 'googlenet-ts': `file:${tarball}` },
    devDependencies: Object.fromEntries(tools.map((t) => [t, dev[t] ?? '*'])),
  };
}

/**
 * A lockfile that holds every package at the version of the repo's package-lock.json: npm keeps a
 * locked version wherever it satisfies the ranges, adds googlenet-ts from the tarball and drops
 * what the app does not need.
 */
function lockedLockfile(manifest: ReturnType<typeof appManifest>): unknown {
  const repo = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
  const packages: Record<string, unknown> = {
    '': { name: manifest.name, dependencies: manifest.dependencies, devDependencies: manifest.devDependencies },
  };
  for (const [path, entry] of Object.entries(repo.packages)) if (path.startsWith('node_modules/')) packages[path] = entry;
  return { name: manifest.name, lockfileVersion: 3, requires: true, packages };
}

/** Test image 0 of the embedded Fashion-MNIST subset (an ankle boot), as a 28×28 grey PNG. */
async function writeSample(file: string): Promise<void> {
  const images = gunzipSync(readFileSync(join(REPO, 'assets', 'fashion-mnist-subset', 't10k-images-idx3-ubyte.gz')));
  await sharp(images.subarray(16, 16 + 28 * 28), { raw: { width: 28, height: 28, channels: 1 } })
    .png()
    .toFile(file);
}

/** Writes the app (package.json, its lockfile in 'locked' mode, the sources, a picture) into `dir`. */
export async function makeApp(dir: string, tarball: string, mode: Mode): Promise<void> {
  cpSync(TEMPLATE, dir, { recursive: true });
  for (const bundler of ['vite', 'webpack']) copyFileSync(join(dir, 'main.js'), join(dir, bundler, 'main.js'));
  const manifest = appManifest(tarball);
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  if (mode === 'locked') writeFileSync(join(dir, 'package-lock.json'), `${JSON.stringify(lockedLockfile(manifest), null, 2)}\n`);
  await writeSample(join(dir, 'sample.png'));
}

export interface Installed extends Ran {
  /** What npm warned about ({@link npmWarnings}). */
  warnings: string[];
}

/**
 * `ONNXRUNTIME_NODE_INSTALL=skip npm install`, the README's command. 'locked' prefers the npm cache
 * (which the repo's own `npm ci` filled); 'fresh' asks the registry for the newest versions.
 */
export function install(dir: string, mode: Mode): Installed {
  const args = ['install', '--no-audit', '--no-fund', mode === 'locked' ? '--prefer-offline' : '--prefer-online'];
  const r = run('npm', args, dir, 600_000);
  return { ...r, warnings: npmWarnings(`${r.stdout}\n${r.stderr}`) };
}

/**
 * npm's warnings, one string each: `EBADENGINE name@version` for each engine mismatch (npm spreads
 * one over five lines), the line itself for the others. npm ≥ 11.16's list of install scripts to
 * review is left out (approving them is the app's own policy), and so are complaints about the
 * machine's user or global npmrc.
 */
function npmWarnings(output: string): string[] {
  const out: string[] = [];
  for (const line of output.split('\n')) {
    const m = /^npm warn (\S+)\s*(.*)$/i.exec(line);
    if (!m || m[1] === 'install-scripts') continue;
    // This machine's own ~/.npmrc or global npmrc (Debian's sets nodedir) is no business of the app.
    if (/^Unknown (user|global) config/i.test(`${m[1]} ${m[2]}`)) continue;
    if (m[1] === 'EBADENGINE') {
      const pkg = /package: '([^']+)'/.exec(m[2] ?? '');
      if (pkg) out.push(`EBADENGINE ${pkg[1]}`);
    } else out.push(line);
  }
  return out;
}

/** The installed version of each package, as the app resolved it. */
export function versions(dir: string, names: string[]): Record<string, string> {
  const v = (n: string): string =>
    (JSON.parse(readFileSync(join(dir, 'node_modules', n, 'package.json'), 'utf8')) as { version: string }).version;
  return Object.fromEntries(names.map((n) => [n, existsSync(join(dir, 'node_modules', n)) ? v(n) : 'missing']));
}
