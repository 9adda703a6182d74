/**
 * Model directories over HTTP: `<url>/config.json` and `<url>/model.safetensors`, fetched with
 * progress and an idle timeout, then read by the same `modelFromFiles` as Node
 * (`weights/model-dir.ts`, which also writes the files the page downloads).
 */
import { ModelLoadError, WeightFormatError } from '../errors.js';
import { getLimits, raiseHint } from '../limits.js';
import { readCapped } from '../stream.js';
import type { CreateOptions, GoogLeNet } from '../models/model.js';
import { checkModelDirConfig, modelFromFiles } from '../weights/model-dir.js';

export interface FetchModelOptions extends CreateOptions {
  /** Called as the weight file arrives (`total` is 0 when the server sends no length). */
  onProgress?: (loaded: number, total: number) => void;
  signal?: AbortSignal;
  /** Give up when no byte arrives for this long. Default 30 s. */
  idleTimeoutMs?: number;
}

async function fetchChecked(url: string, what: string, o: FetchModelOptions): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { ...(o.signal ? { signal: o.signal } : {}), cache: 'no-cache' });
  } catch (e) {
    throw new ModelLoadError(`${url}: cannot fetch the ${what} (${(e as Error).message})`);
  }
  if (!res.ok) {
    const hint = res.status === 404 ? ` — is there a model directory (config.json + model.safetensors) at ${new URL('.', url).href}?` : '';
    throw new ModelLoadError(`${url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''} while fetching the ${what}${hint}`);
  }
  return res;
}

/**
 * Reads a response body with progress and an idle timeout, at most `maxWeightBytes` (also used
 * for state dict files, `weights.ts`).
 */
export async function readBody(res: Response, url: string, o: FetchModelOptions): Promise<Uint8Array> {
  const total = Number(res.headers.get('content-length') ?? 0) || 0;
  const cap = getLimits().maxWeightBytes;
  const tooLarge = (n: number) =>
    new WeightFormatError(`${url}: ${n.toLocaleString('en-US')} bytes is more than ${raiseHint('maxWeightBytes')}`, { file: url });
  if (total > cap) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge(total);
  }
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const idle = o.idleTimeoutMs ?? 30_000;
  const bytes = await readCapped(res.body, {
    maxBytes: cap,
    tooLarge,
    readFailed: (e) => new ModelLoadError(`${url}: download failed (${(e as Error).message})`),
    onChunk: (_, loaded) => o.onProgress?.(loaded, total),
    idle: { ms: idle, error: () => new ModelLoadError(`${url}: no data for ${idle / 1000} s, gave up`) },
  });
  if (total && bytes.length !== total) throw new ModelLoadError(`${url}: received ${bytes.length} of ${total} bytes (connection cut?)`);
  return bytes;
}

/**
 * Loads a model directory over HTTP: `<url>/config.json` and `<url>/model.safetensors`.
 * `url` is resolved against the page (relative URLs work). Errors say which file, what the
 * server answered, and for a wrong weight file which tensor does not fit.
 */
export async function fetchModelDir(url: string, o: FetchModelOptions = {}): Promise<GoogLeNet> {
  const here = typeof document !== 'undefined' ? document.baseURI : (globalThis as { location?: { href: string } }).location?.href;
  const base = new URL(url.endsWith('/') ? url : `${url}/`, here);
  const configUrl = new URL('config.json', base).href;
  const weightsUrl = new URL('model.safetensors', base).href;

  const cres = await fetchChecked(configUrl, 'model config', o);
  const text = await cres.text();
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    const type = cres.headers.get('content-type') ?? 'unknown type';
    throw new ModelLoadError(
      `${configUrl}: not JSON (the server sent ${type}${/html/.test(type) ? ', probably a page, not a model directory' : ''})`,
    );
  }
  const cfg = checkModelDirConfig(raw, configUrl);
  const wres = await fetchChecked(weightsUrl, 'weights', o);
  const bytes = await readBody(wres, weightsUrl, o);
  const create: CreateOptions = {};
  if (o.engine) create.engine = o.engine;
  if (o.threads) create.threads = o.threads;
  return modelFromFiles(cfg, bytes, { config: configUrl, weights: weightsUrl }, create);
}
