/**
 * Model directories in the browser: the same two files as Node's `weights/model-dir.ts`
 * (`config.json` + `model.safetensors`, torchvision names and layouts), fetched over HTTP or
 * built in memory for download. The format itself (`weights/model-dir-core.ts`) is shared with
 * Node; `test/web` checks that each side reads what the other writes.
 */
import { GoogLeNetError, WeightFormatError } from '../errors.js';
import { Classifier } from '../infer/classifier.js';
import { resolveConfig, type GoogLeNetConfig } from '../models/config.js';
import { GoogLeNet, type CreateOptions, type PreprocessConfig } from '../models/model.js';
import { readSafetensors, writeSafetensors, type StoredTensor } from '../weights/safetensors-core.js';
import { MODEL_FORMAT, MODEL_FORMAT_VERSION, checkModelDirConfig, storedStateDict, type ModelDirConfig } from '../weights/model-dir-core.js';

export { MODEL_FORMAT, MODEL_FORMAT_VERSION, checkModelDirConfig, type ModelDirConfig } from '../weights/model-dir-core.js';

/** What `googlenet export --format web` adds next to the model directory's two files. */
export const WEB_MANIFEST_FORMAT = 'googlenet-ts/web';


/** `manifest.json` of a web export: what a page needs to list a model before downloading it. */
export interface WebManifest {
  format: typeof WEB_MANIFEST_FORMAT;
  version: 1;
  name: string;
  description: string;
  /** False for random-initialization models (the page labels them as untrained). */
  trained: boolean;
  preset: string;
  numClasses: number;
  inChannels: number;
  inputSize: number;
  params: number;
  labels: string[] | null;
  files: { config: string; weights: string; weightsBytes: number };
}

/** A model URL that cannot be fetched (network error, HTTP error, wrong content). */
export class ModelLoadError extends GoogLeNetError {
  override name = 'ModelLoadError';
}

const sources = new WeakMap<GoogLeNet, string>();

/** The `source` line of the config.json a model was loaded from (provenance), if any. */
export function modelSource(model: GoogLeNet): string | undefined {
  return sources.get(model);
}

/** Whether a provenance line says the weights are a random initialization. */
export function isUntrainedSource(source: string | undefined): boolean {
  return /random|untrained/i.test(source ?? '');
}


/**
 * Builds the model of a config and loads its weights, with the checks of Node's `loadModelDir`
 * (keys, shapes, dtypes): a weight file that does not fit its config is a WeightFormatError that
 * names the first mismatching tensor.
 */
export function modelFromFiles(cfg: ModelDirConfig, weights: Uint8Array, names: { config: string; weights: string }, create: CreateOptions = {}): GoogLeNet {
  let model: GoogLeNet;
  try {
    model = new GoogLeNet(resolveConfig(cfg.model), create, new Map());
  } catch (e) {
    throw new WeightFormatError(`${names.config}: ${(e as Error).message}`);
  }
  let sd: Map<string, StoredTensor>;
  try {
    sd = readSafetensors(weights, names.weights);
  } catch (e) {
    throw new WeightFormatError(`${(e as Error).message} — the weight file is damaged or not safetensors`);
  }
  try {
    model.loadStateDict(sd, names.weights);
  } catch (e) {
    throw new WeightFormatError(`the weight file does not match its config.json (${describeConfig(model.config)}): ${(e as Error).message}`);
  }
  if (cfg.labels) {
    if (cfg.labels.length !== model.config.numClasses) {
      throw new WeightFormatError(`${names.config}: ${cfg.labels.length} labels for a model with ${model.config.numClasses} classes`);
    }
    model.labels = cfg.labels;
  }
  model.preprocess = cfg.preprocess;
  if (typeof cfg.source === 'string') sources.set(model, cfg.source);
  return model;
}

export function describeConfig(c: GoogLeNetConfig): string {
  return `preset ${c.preset}, ${c.numClasses} classes, ${c.inChannels} channel${c.inChannels === 1 ? '' : 's'}, ${c.inputSize}×${c.inputSize}, width ${c.width}${c.auxLogits ? ', aux heads' : ''}`;
}

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

async function readBody(res: Response, url: string, o: FetchModelOptions): Promise<Uint8Array> {
  const total = Number(res.headers.get('content-length') ?? 0) || 0;
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  const idle = o.idleTimeoutMs ?? 30_000;
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ModelLoadError(`${url}: no data for ${idle / 1000} s, gave up`)), idle);
    });
    let r: ReadableStreamReadResult<Uint8Array>;
    try {
      r = await Promise.race([reader.read(), timeout]);
    } catch (e) {
      void reader.cancel().catch(() => undefined);
      throw e instanceof ModelLoadError ? e : new ModelLoadError(`${url}: download failed (${(e as Error).message})`);
    } finally {
      clearTimeout(timer);
    }
    if (r.done) break;
    chunks.push(r.value);
    loaded += r.value.length;
    o.onProgress?.(loaded, total);
  }
  if (total && loaded !== total) throw new ModelLoadError(`${url}: received ${loaded} of ${total} bytes (connection cut?)`);
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
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
    throw new ModelLoadError(`${configUrl}: not JSON (the server sent ${type}${/html/.test(type) ? ', probably a page, not a model directory' : ''})`);
  }
  const cfg = checkModelDirConfig(raw, configUrl);
  const wres = await fetchChecked(weightsUrl, 'weights', o);
  const bytes = await readBody(wres, weightsUrl, o);
  const create: CreateOptions = {};
  if (o.engine) create.engine = o.engine;
  if (o.threads) create.threads = o.threads;
  return modelFromFiles(cfg, bytes, { config: configUrl, weights: weightsUrl }, create);
}

/** The two files of a model directory (what Node's `saveModelDir` writes), as bytes. */
export function modelDirFiles(model: GoogLeNet, extra: { labels?: string[] | null; preprocess?: PreprocessConfig; source?: string } = {}): {
  'config.json': Uint8Array;
  'model.safetensors': Uint8Array;
} {
  const labels = extra.labels ?? model.labels ?? null;
  if (labels && labels.length !== model.config.numClasses) {
    throw new WeightFormatError(`${labels.length} labels for a model with ${model.config.numClasses} classes`);
  }
  const config: ModelDirConfig = {
    format: MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    model: model.config,
    labels,
    preprocess: extra.preprocess ?? model.preprocess ?? new Classifier(model).preprocessing,
    ...(extra.source ? { source: extra.source } : {}),
  };
  return {
    'config.json': new TextEncoder().encode(JSON.stringify(config, null, 2) + '\n'),
    'model.safetensors': writeSafetensors(storedStateDict(model), { format: 'pt', producer: 'googlenet-ts' }),
  };
}

/** The manifest `googlenet export --format web` writes next to the two files. */
export function webManifest(model: GoogLeNet, o: { name: string; description?: string; trained?: boolean; weightsBytes: number; source?: string }): WebManifest {
  const c = model.config;
  const trained = o.trained ?? !isUntrainedSource(o.source);
  return {
    format: WEB_MANIFEST_FORMAT,
    version: 1,
    name: o.name,
    description: o.description ?? `GoogLeNet, ${describeConfig(c)}${trained ? '' : ' — untrained (random weights)'}`,
    trained,
    preset: c.preset,
    numClasses: c.numClasses,
    inChannels: c.inChannels,
    inputSize: c.inputSize,
    params: model.numParams(),
    labels: model.labels ?? null,
    files: { config: 'config.json', weights: 'model.safetensors', weightsBytes: o.weightsBytes },
  };
}
