/**
 * Named and remote weights in the browser: `load({ weights: 'imagenet' })` and
 * `load({ weights: 'https://…/name-<sha256>.pth' })` fetch a torchvision state dict (.pth or
 * .safetensors) the way the Node side downloads one (`weights/hub-node.ts`), with the browser's
 * own storage:
 *
 * - the file is fetched with progress (`onProgress(loaded, total)`), checked against the entry's
 *   SHA-256 (or the prefix in its file name, `name-<sha256 prefix>.ext`, torch.hub's convention)
 *   with `crypto.subtle`, and only then stored in the Cache API (cache `googlenet-ts-weights`,
 *   keyed by the origin URL): a corrupt file is refused and never cached;
 * - a second load reads the cache without the network (and checks the hash again);
 * - `mirror: 'https://host/path/'` replaces the origin (same file name, same hash check);
 * - `categories: 'imagenet'` class names come from `categoriesUrl`, by default the package's own
 *   `assets/imagenet-classes.json` (resolved from this module, so bundlers copy it).
 *
 * A cross-origin weights server must send CORS headers (`Access-Control-Allow-Origin`), and a
 * cross-origin-isolated page (COEP `require-corp`) needs them too: a mirror on the page's own
 * origin avoids both. The Cache API and `crypto.subtle` exist only in secure contexts (https,
 * localhost): elsewhere nothing is cached, and a file with a hash to check is refused.
 */
import { ModelLoadError } from '../errors.js';
import { defaultPreprocess } from '../infer/classifier.js';
import type { GoogLeNetOptions } from '../models/config.js';
import { GoogLeNet, type CreateOptions } from '../models/model.js';
import { readStateDict } from '../weights/formats.js';
import {
  findWeights,
  hashMismatch,
  hashPrefixOf,
  isWeightsUrl,
  mirroredUrl,
  unknownWeights,
  urlFileName,
  type WeightsEntry,
} from '../weights/registry.js';
import { fetchModelDir, readBody, type FetchModelOptions } from './model-dir.js';

/** The Cache API cache that holds verified weight files. */
export const WEIGHTS_CACHE = 'googlenet-ts-weights';

/** How `{ weights }` sources are fetched in the browser (`download` in the source, or {@link fetchWeights}' options). */
export interface BrowserWeightsOptions {
  /** Called as the file arrives (`total` is 0 when the server sends no length); once with (n, n) for a cached file. */
  onProgress?: (loaded: number, total: number) => void;
  /** A folder URL serving the same file names (an air-gapped site's own copy); the hash check stays. */
  mirror?: string;
  /** Expected SHA-256 (hex, 8 to 64 digits). Default: the entry's, else the prefix in the file name, else none. */
  sha256?: string;
  /** The Cache API cache to keep verified files in, or `false` for none. Default {@link WEIGHTS_CACHE}. */
  cache?: string | false;
  /** Where the 1000 ImageNet class names come from. Default: the package's `assets/imagenet-classes.json`. */
  categoriesUrl?: string;
  signal?: AbortSignal;
  /** Give up when no byte arrives for this long. Default 30 s. */
  idleTimeoutMs?: number;
}

/** A verified weight file. */
export interface FetchedWeights {
  bytes: Uint8Array;
  /** The origin URL (absolute): the cache key. */
  url: string;
  /** Where the bytes came from: the origin, the mirror, or the cache. */
  from: string;
  fromCache: boolean;
  /** The file's SHA-256 (hex), or '' where `crypto.subtle` is missing and there was nothing to check. */
  sha256: string;
}

/** The page's URL, which relative URLs resolve against. */
function pageBase(): string | undefined {
  return typeof document !== 'undefined' ? document.baseURI : (globalThis as { location?: { href: string } }).location?.href;
}

async function sha256Hex(bytes: Uint8Array, file: string, needed: boolean): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) {
    if (!needed) return '';
    throw new ModelLoadError(
      `${file}: cannot verify its SHA-256: crypto.subtle exists only in secure contexts (serve the page over https or from localhost)`,
    );
  }
  const d = new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function openCache(name: string | false | undefined): Promise<Cache | null> {
  if (name === false || typeof caches === 'undefined') return null;
  try {
    return await caches.open(name ?? WEIGHTS_CACHE);
  } catch {
    return null; // e.g. storage disabled: load without caching
  }
}

/**
 * The verified bytes of a weight file: from the Cache API when there, else fetched (from the
 * mirror if given), checked against the expected SHA-256, then cached.
 * @throws ModelLoadError for a network failure or HTTP error (naming the URL); WeightFormatError for
 *   a SHA-256 mismatch (naming the expected and received hash; nothing is cached), as in Node.
 */
export async function fetchWeights(url: string, o: BrowserWeightsOptions = {}): Promise<FetchedWeights> {
  const abs = new URL(url, pageBase()).href;
  const file = urlFileName(abs);
  const expected = o.sha256 ?? hashPrefixOf(file);
  const cache = await openCache(o.cache);
  const hit = await cache?.match(abs);
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    const digest = await sha256Hex(bytes, file, !!expected);
    if (!expected || digest.startsWith(expected)) {
      o.onProgress?.(bytes.length, bytes.length);
      return { bytes, url: abs, from: 'cache', fromCache: true, sha256: digest };
    }
    await cache!.delete(abs); // damaged in storage: fetch it again
  }
  const from = mirroredUrl(abs, o.mirror || undefined);
  let res: Response;
  try {
    res = await fetch(from, o.signal ? { signal: o.signal } : {});
  } catch (e) {
    throw new ModelLoadError(
      `${file}: cannot fetch ${from} (${(e as Error).message}); a server on another origin must send CORS headers — ` +
        `or pass mirror: a folder URL on this site that serves ${file}`,
    );
  }
  if (!res.ok)
    throw new ModelLoadError(`${from}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''} while fetching the weights`);
  const bytes = await readBody(res, from, { ...(o.onProgress ? { onProgress: o.onProgress } : {}), ...idle(o) });
  const digest = await sha256Hex(bytes, file, !!expected);
  if (expected && !digest.startsWith(expected)) {
    throw hashMismatch(file, expected, digest, from, 'the file was not cached');
  }
  try {
    await cache?.put(
      abs,
      new Response(bytes as Uint8Array<ArrayBuffer>, {
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length), 'X-SHA256': digest },
      }),
    );
  } catch {
    // Storage full or refused: the model still loads, it is only not cached.
  }
  return { bytes, url: abs, from, fromCache: false, sha256: digest };
}

function idle(o: { idleTimeoutMs?: number; signal?: AbortSignal }): FetchModelOptions {
  return { ...(o.idleTimeoutMs !== undefined ? { idleTimeoutMs: o.idleTimeoutMs } : {}), ...(o.signal ? { signal: o.signal } : {}) };
}

/** Removes every cached weight file (or only `url`'s); true when something was removed. */
export async function clearWeightsCache(url?: string, cacheName: string = WEIGHTS_CACHE): Promise<boolean> {
  if (typeof caches === 'undefined') return false;
  if (url === undefined) return caches.delete(cacheName);
  return (await caches.open(cacheName)).delete(new URL(url, pageBase()).href);
}

const DEFAULT_CATEGORIES_URL = new URL('../../assets/imagenet-classes.json', import.meta.url).href;
const categoriesCache = new Map<string, Promise<string[]>>();

/** The 1000 ImageNet class names in torchvision's order, fetched once per URL. */
export function fetchImagenetClasses(url: string = DEFAULT_CATEGORIES_URL): Promise<string[]> {
  let p = categoriesCache.get(url);
  if (!p) {
    p = (async () => {
      const fail = (why: string): ModelLoadError =>
        new ModelLoadError(`${url}: cannot fetch the ImageNet class names (${why}); pass categoriesUrl`);
      let res: Response;
      let list: unknown;
      try {
        res = await fetch(url);
      } catch (e) {
        throw fail((e as Error).message);
      }
      if (!res.ok) throw fail(`HTTP ${res.status}`);
      try {
        list = await res.json();
      } catch (e) {
        throw fail(`not JSON: ${(e as Error).message}`);
      }
      if (!Array.isArray(list) || list.length !== 1000 || !list.every((s) => typeof s === 'string'))
        throw new ModelLoadError(`${url}: expected a JSON array of 1000 ImageNet class names`);
      return list as string[];
    })();
    p.catch(() => categoriesCache.delete(url));
    categoriesCache.set(url, p);
  }
  return p.then((l) => [...l]);
}

/** What `load({ weights })` takes in the browser: a registry name, or the URL of a state dict or model directory. */
export type WeightsSource = { weights: string; download?: BrowserWeightsOptions } & GoogLeNetOptions;

/** A URL whose file name is a state dict (.pth, .pt, .safetensors, .bin); anything else is a model directory. */
export function isStateDictUrl(url: string): boolean {
  return /\.(pth|pt|safetensors|bin)$/i.test(urlFileName(url));
}

/**
 * Loads a `{ weights }` source: a registry name (its URL fetched and cached, or its shipped model
 * directory relative to the page), or a URL (absolute or relative to the page) of a state dict or
 * a model directory. The entry's options apply unless the source gives its own; without either,
 * `numClasses` is read from the file's `fc.weight`. Then the entry's categories and preprocessing.
 */
export async function loadWeightsSource(source: WeightsSource, o: FetchModelOptions = {}): Promise<GoogLeNet> {
  const { weights, download = {}, ...opts } = source;
  const entry = findWeights(weights);
  const onProgress = download.onProgress ?? o.onProgress;
  if (entry?.modelDir) return fetchModelDir(entry.modelDir, o);
  let url: string;
  if (entry?.url) url = entry.url;
  else if (isWeightsUrl(weights) || /[/.]/.test(weights)) url = weights;
  else throw unknownWeights(weights, 'weights');
  if (!entry && !isStateDictUrl(url)) return fetchModelDir(url, o);
  const sha256 = download.sha256 ?? entry?.sha256;
  const f = await fetchWeights(url, {
    ...download,
    ...idle(o),
    ...(onProgress ? { onProgress } : {}),
    ...(sha256 ? { sha256 } : {}),
  });
  const sd = readStateDict(f.bytes, f.url);
  const options: GoogLeNetOptions = { ...entry?.options, ...opts };
  const fc = sd.get('fc.weight');
  if (options.numClasses === undefined && fc?.dims.length === 2) options.numClasses = fc.dims[0]!;
  const create: CreateOptions = {};
  if (o.engine) create.engine = o.engine;
  if (o.threads) create.threads = o.threads;
  const model = new GoogLeNet(options, create, new Map());
  model.loadStateDict(sd, f.url);
  await applyEntry(model, entry, download.categoriesUrl);
  if (!model.labels && model.config.numClasses === 1000) model.labels = await fetchImagenetClasses(download.categoriesUrl);
  model.preprocess ??= defaultPreprocess(model.config);
  return model;
}

/** An entry's categories and preprocessing, when the model's classes and input size match them (as in Node). */
async function applyEntry(model: GoogLeNet, entry: WeightsEntry | undefined, categoriesUrl: string | undefined): Promise<void> {
  if (!entry) return;
  const n = model.config.numClasses;
  if (entry.categories === 'imagenet' && n === 1000) model.labels = await fetchImagenetClasses(categoriesUrl);
  else if (Array.isArray(entry.categories) && entry.categories.length === n) model.labels = [...entry.categories];
  if (entry.preprocessing && model.config.inputSize === entry.preprocessing.crop) {
    const { interpolation: _i, ...p } = entry.preprocessing;
    model.preprocess = { ...p, mean: [...p.mean], std: [...p.std] };
  }
}
