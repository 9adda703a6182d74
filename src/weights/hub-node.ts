/**
 * Named and remote weights in Node: `--weights imagenet`, `--weights https://…/name-<sha256>.pth`
 * and `load({ weights: 'imagenet' })` resolve here to a local file (or a shipped model
 * directory), downloading into the cache on first use, like torch.hub's
 * `load_state_dict_from_url`:
 *
 * - the cache is `$GOOGLENET_HOME`, else `$XDG_CACHE_HOME/googlenet-ts`, else `~/.cache/googlenet-ts`;
 *   a file already there is used without the network;
 * - a download goes to `.<file>.part` in the cache, is checked against the entry's SHA-256 (or
 *   the prefix in the file name), and only then renamed to its name: a cut or corrupt download
 *   never looks valid; a cut one is resumed with an HTTP Range request;
 * - `GOOGLENET_WEIGHTS_MIRROR=http://host/path/` replaces the origin (same file name, same check);
 * - `GOOGLENET_WEIGHTS_REGISTRY=file.json` adds the user's own entries.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { extname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileWriteError, ModelLoadError, OptionError } from '../errors.js';
import { fetchToFile, type FetchLike } from '../fetch-node.js';
import {
  findWeights,
  hashMismatch,
  hashPrefixOf,
  isWeightsUrl,
  mirroredUrl,
  parseWeightsRegistry,
  registerWeights,
  unknownWeights,
  urlFileName,
  weightsEntries,
  type WeightsEntry,
} from './registry.js';

/** The package root (this file is `src/weights/hub-node.ts` or `dist/weights/hub-node.js`). */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** How download progress is shown: a bar redrawn in place, plain lines, or nothing. */
export type DownloadProgress = 'auto' | 'tty' | 'plain' | 'none';

/** Options of {@link resolveWeights} and {@link fetchWeightsFile}. */
export interface FetchWeightsOptions {
  /** Cache folder. Default {@link weightsCacheDir}(). */
  cacheDir?: string;
  /** A folder URL serving the same file names. Default `$GOOGLENET_WEIGHTS_MIRROR`, else none. */
  mirror?: string;
  /** Progress on stderr: `'auto'` is a bar on a terminal and plain lines otherwise. Default `'none'`. */
  progress?: DownloadProgress;
  /** Receives the plain progress lines instead of stderr. */
  log?: (line: string) => void;
  /** Called with the bytes received and the total (null when the server does not say). */
  onProgress?: (received: number, total: number | null) => void;
  /** Further attempts (resumed with Range) after the connection drops mid-file. Default 2. */
  retries?: number;
  /** Default `globalThis.fetch`. */
  fetchImpl?: FetchLike;
  /** The option named in errors. Default `--weights`. */
  option?: string;
}

/** What a weights argument turned into. */
export interface ResolvedWeights {
  /** A local state dict file (.pth/.safetensors) or model directory. */
  path: string;
  kind: 'file' | 'modelDir';
  /** The registry entry, when the argument was a name. */
  entry?: WeightsEntry;
}

/** The cache folder: `$GOOGLENET_HOME`, else `$XDG_CACHE_HOME/googlenet-ts`, else `~/.cache/googlenet-ts`. */
export function weightsCacheDir(env: Record<string, string | undefined> = process.env): string {
  if (env['GOOGLENET_HOME']) return resolve(env['GOOGLENET_HOME']);
  if (env['XDG_CACHE_HOME']) return join(resolve(env['XDG_CACHE_HOME']), 'googlenet-ts');
  return join(homedir(), '.cache', 'googlenet-ts');
}

/** Registers the entries of a registry file (see `parseWeightsRegistry` for the format); returns them. */
export function loadWeightsRegistryFile(file: string): WeightsEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new OptionError(`${file}: cannot read the weights registry (${(e as Error).message.split('\n')[0]})`, {
      option: 'registry',
      file,
    });
  }
  const entries = parseWeightsRegistry(text, file);
  entries.forEach(registerWeights);
  return entries;
}

let registryFileRead: string | undefined;

/** Reads `$GOOGLENET_WEIGHTS_REGISTRY` once per value. */
function loadEnvRegistry(): void {
  const file = process.env['GOOGLENET_WEIGHTS_REGISTRY'];
  if (file && file !== registryFileRead) {
    loadWeightsRegistryFile(file);
    registryFileRead = file;
  }
}

/** The entry called `name` among the built-in, the API's and `$GOOGLENET_WEIGHTS_REGISTRY`'s entries. */
export function lookupWeights(name: string): WeightsEntry | undefined {
  loadEnvRegistry();
  return findWeights(name);
}

/** The entry called `name`; otherwise an OptionError that lists the known names. */
export function requireWeights(name: string, option = '--weights'): WeightsEntry {
  const e = lookupWeights(name);
  if (!e) throw unknownWeights(name, option);
  return e;
}

/** Every entry, `$GOOGLENET_WEIGHTS_REGISTRY`'s included. */
export function listWeights(): WeightsEntry[] {
  loadEnvRegistry();
  return weightsEntries();
}

/**
 * Turns a weights argument into a local path: a registry name (downloaded and cached if it has
 * a URL), an http(s) URL (downloaded and cached), or a file or model directory as given.
 * @throws OptionError for an unknown name (listing the known ones); ModelLoadError when the file
 *   is neither cached nor downloadable; WeightFormatError for a SHA-256 mismatch.
 */
export async function resolveWeights(spec: string, o: FetchWeightsOptions = {}): Promise<ResolvedWeights> {
  const entry = lookupWeights(spec);
  if (entry?.modelDir) {
    const dir = isAbsolute(entry.modelDir) ? entry.modelDir : join(PACKAGE_ROOT, entry.modelDir);
    return { path: dir, kind: 'modelDir', entry };
  }
  if (entry?.url)
    return {
      path: await fetchWeightsFile(entry.url, { ...o, ...(entry.sha256 ? { sha256: entry.sha256 } : {}), name: entry.name }),
      kind: 'file',
      entry,
    };
  if (isWeightsUrl(spec)) return { path: await fetchWeightsFile(spec, o), kind: 'file' };
  // Not a name, not a URL: a path. A bare word that is no file is a mistyped name.
  if (!existsSync(spec) && !/[\\/]/.test(spec) && extname(spec) === '') throw unknownWeights(spec, o.option);
  return { path: spec, kind: existsSync(spec) && statSync(spec).isDirectory() ? 'modelDir' : 'file' };
}

/**
 * The cached copy of `url`, downloaded first when absent (see the module comment).
 * @returns the path of the verified file in the cache.
 */
export async function fetchWeightsFile(url: string, o: FetchWeightsOptions & { sha256?: string; name?: string } = {}): Promise<string> {
  const file = urlFileName(url);
  const option = o.option ?? '--weights';
  if (!file || file.startsWith('.')) throw new OptionError(`${option}: ${url} does not end in a file name`, { option });
  const dir = o.cacheDir ?? weightsCacheDir();
  const dest = join(dir, file);
  if (existsSync(dest)) return dest;
  const expected = o.sha256 ?? hashPrefixOf(file);
  const mirror = o.mirror ?? process.env['GOOGLENET_WEIGHTS_MIRROR'];
  const from = mirroredUrl(url, mirror || undefined);
  const part = join(dir, `.${file}.part`);
  const progress = progressReporter(o.progress ?? 'none', file, o.log);
  progress.start(from);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new FileWriteError(`${dir}: cannot create the weights cache (${(e as Error).message.split('\n')[0]})`, { file: dir });
  }
  let digest: string;
  try {
    const r = await fetchToFile(from, part, {
      algorithm: 'sha256',
      resume: true,
      retries: o.retries ?? 2,
      error: ModelLoadError,
      onProgress: (n, total) => {
        progress.update(n, total);
        o.onProgress?.(n, total);
      },
      ...(o.fetchImpl ? { fetchImpl: o.fetchImpl } : {}),
    });
    digest = r.digest;
  } catch (e) {
    progress.end();
    if (e instanceof ModelLoadError) throw missingWeights(file, dest, url, o.name, e.message, option);
    throw e;
  }
  progress.end();
  if (expected && !digest.startsWith(expected)) {
    await rm(part, { force: true });
    throw hashMismatch(file, expected, digest, from, 'the downloaded file was deleted', dest);
  }
  await rename(part, dest);
  progress.done(dest, expected ? `sha256 ${digest.slice(0, 8)}… verified` : `sha256 ${digest.slice(0, 8)}…, no hash to check`);
  return dest;
}

/** The one-line "not cached and not downloadable" error, with the ways to get the file by hand. */
function missingWeights(file: string, dest: string, url: string, name: string | undefined, cause: string, option: string): ModelLoadError {
  const what = name ? `weights "${name}" (${file})` : file;
  cause = cause.replace(`cannot download ${url}: `, '');
  return new ModelLoadError(
    `${what}: not in the cache and cannot be downloaded: ${cause}. It would be cached as ${dest}; ` +
      `get ${url} by hand and pass ${option} FILE (or copy it to that path), or set GOOGLENET_WEIGHTS_MIRROR=http://host/path/ to a server that has it`,
    { file: dest, option },
  );
}

interface ProgressReporter {
  start(url: string): void;
  update(received: number, total: number | null): void;
  end(): void;
  done(dest: string, note: string): void;
}

const MB = (n: number): string => (n / 1e6).toFixed(1);

/** A bar redrawn on a terminal (stderr), plain lines at each 10% (or 8 MB) otherwise, or nothing. */
function progressReporter(mode: DownloadProgress, file: string, log?: (line: string) => void): ProgressReporter {
  const kind = mode === 'auto' ? (process.stderr.isTTY ? 'tty' : 'plain') : mode;
  const line = log ?? ((s: string) => process.stderr.write(s + '\n'));
  let next = 0;
  let started: string | null = null;
  let lastDraw = 0;
  let drawn = false;
  const t0 = Date.now();
  if (kind === 'none') return { start() {}, update() {}, end() {}, done() {} };
  return {
    // "downloading URL" waits for the first bytes, so that a failure is one line.
    start: (url) => void (started = url),
    update: (n, total) => {
      if (started !== null) {
        line(`downloading ${started}${total ? ` (${MB(total)} MB)` : ''}`);
        started = null;
      }
      if (kind === 'tty') {
        const now = Date.now();
        if (now - lastDraw < 100 && n !== total) return;
        lastDraw = now;
        drawn = true;
        const frac = total ? Math.min(1, n / total) : 0;
        const bar = total ? `[${'█'.repeat(Math.round(frac * 20)).padEnd(20, '░')}] ` : '';
        const rate = n / Math.max(0.001, (now - t0) / 1000);
        process.stderr.write(`\r${file} ${bar}${MB(n)}${total ? `/${MB(total)}` : ''} MB ${MB(rate)} MB/s\x1b[K`);
        return;
      }
      if (total ? n / total >= next / 10 : n >= next * 8e6) {
        line(total ? `${file}: ${Math.floor((10 * n) / total) * 10}% (${MB(n)}/${MB(total)} MB)` : `${file}: ${MB(n)} MB`);
        next = total ? Math.floor((10 * n) / total) + 1 : Math.floor(n / 8e6) + 1;
      }
    },
    end: () => {
      if (drawn) process.stderr.write('\n');
      drawn = false;
    },
    done: (dest, note) => line(`saved ${dest} (${note})`),
  };
}
