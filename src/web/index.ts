/**
 * googlenet-ts for browsers (`googlenet-ts/browser`): the same model code, graphs, weight format
 * and preprocessing as Node, on onnxruntime-web (WebGPU, else WebAssembly with SIMD and threads).
 *
 *   import { init, load } from 'googlenet-ts/browser';
 *   const backend = await init();                    // { kind: 'wasm', label: 'WebAssembly (SIMD, 4 threads)' }
 *   const net = await load('models/fashion-mnist/');
 *   const tv = await load({ weights: 'https://host/googlenet-1378be20.pth' }, { onProgress }); // verified, then cached
 *   const [top5] = await net.classify(file, 5);      // a File/Blob, <img>, ImageBitmap or decoded image
 *
 * Vite and webpack 5 bundle it with no configuration (they emit onnxruntime-web's .wasm beside
 * the app; `init({ wasmPaths })` serves it from elsewhere). Serve the page with
 * `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp` for
 * multi-threaded WebAssembly. Nothing here imports a Node module.
 */
import { Classifier, type ImageClassifier, type ImageInput, type Prediction } from '../infer/classifier.js';
import type { ExplainOptions, Explanation } from '../infer/explain.js';
import type { ModelOptions } from '../models/config.js';
import { GoogLeNet } from '../models/model.js';
import { checkLoadSource } from '../weights/model-dir.js';
import { engineForDevice } from '../runtime/engine.js';
import type { Tensor } from '../tensor.js';
import { decodeImage } from './decode.js';
import { currentBackend, initBrowserEngine, type BackendInfo, type BrowserEngineOptions } from './engine.js';
import { fetchModelDir, type FetchModelOptions } from './model-dir.js';
import { loadWeightsSource, type WeightsSource } from './weights.js';

export * from '../api.js';
export type { BackendInfo, BrowserEngineOptions } from './engine.js';
export { decodeImage, type DecodedImage, type DecodeImageOptions } from './decode.js';
export type { FetchModelOptions } from './model-dir.js';
export { fetchIdxDataset } from './data.js';
export {
  BrowserTrainer,
  resolveTrainOptions,
  trainModelOptions,
  type BrowserTrainOptions,
  type BrowserTrainSinks,
  type EvalReport,
  type StepReport,
} from './train.js';
export { zipFiles } from './zip.js';
export {
  fetchWeights,
  clearWeightsCache,
  fetchImagenetClasses,
  isStateDictUrl,
  WEIGHTS_CACHE,
  type BrowserWeightsOptions,
  type FetchedWeights,
  type WeightsSource,
} from './weights.js';

/**
 * Picks the execution provider (WebGPU if usable, else WebAssembly with SIMD; threads when the
 * page is cross-origin isolated), makes it the default engine, and says which it is.
 * @throws BackendError when the browser offers no usable backend.
 */
export async function init(options: BrowserEngineOptions = {}): Promise<BackendInfo> {
  return (await initBrowserEngine(options)).info;
}

/** The backend in use, once {@link init} (or {@link loadModel}) has picked it. */
export function backend(): BackendInfo | undefined {
  return currentBackend();
}

/**
 * What {@link load} and {@link loadModel} take: a model directory's URL; `{ weights }` with a
 * registry name (`'imagenet'`) or the URL of a torchvision state dict (.pth/.safetensors) or of a
 * model directory, plus GoogLeNet options (a name's own options apply unless given here) and how
 * to download (`download: { mirror, sha256, cache, categoriesUrl, onProgress }`); or fresh weights.
 */
export type LoadSource = string | { model: string } | WeightsSource | ({ random: true; seed?: number } & ModelOptions);

/**
 * Loads a model directory over HTTP (`<url>/config.json` + `<url>/model.safetensors`, what
 * `googlenet export --format web` writes), a `{ weights }` state dict (fetched with progress,
 * checked against its SHA-256 and kept in the Cache API; see `web/weights.ts`), or builds one
 * with fresh weights (`{ random: true }`), on the default browser engine unless `engine` is given.
 * @throws ModelLoadError (404, network, not JSON, SHA-256 mismatch), WeightFormatError (weights
 *   do not fit the config) or OptionError (an unknown weights name).
 */
export async function loadModel(source: LoadSource, options: FetchModelOptions = {}): Promise<GoogLeNet> {
  checkLoadSource(source);
  // `device` picks (and probes) that device's engine; without it, the page-wide one from init().
  const engine = options.engine ?? (options.device ? await engineForDevice(options.device).resolve() : (await initBrowserEngine()).engine);
  if (typeof source === 'string') return fetchModelDir(source, { ...options, engine });
  if ('model' in source) return fetchModelDir(source.model, { ...options, engine });
  if ('weights' in source) return loadWeightsSource(source, { ...options, engine });
  const { random: _random, seed, ...config } = source;
  return new GoogLeNet(config, { ...options, engine, ...(seed !== undefined ? { seed } : {}) });
}

/** A picture the browser classifier decodes itself. */
export type BrowserImage = Blob | HTMLImageElement | ImageBitmap;

/** A classifier that also takes Blobs (files, fetch responses), `<img>` elements and bitmaps. */
export class BrowserClassifier extends Classifier implements ImageClassifier<BrowserImage> {
  private async decode(images: BrowserImage | ImageInput | (BrowserImage | ImageInput)[]): Promise<ImageInput[]> {
    const list = Array.isArray(images) ? images : [images];
    return Promise.all(list.map(async (x) => ('dims' in x || 'data' in x ? (x as ImageInput) : decodeImage(x))));
  }
  override async classify(images: BrowserImage | ImageInput | (BrowserImage | ImageInput)[], k = 5): Promise<Prediction[][]> {
    return super.classify(await this.decode(images), k);
  }
  override async infer(
    images: BrowserImage | ImageInput | (BrowserImage | ImageInput)[],
    o: { taps?: string[] } = {},
  ): Promise<Record<string, Tensor>> {
    return super.infer(await this.decode(images), o);
  }
  override async explain(
    images: BrowserImage | ImageInput | (BrowserImage | ImageInput)[],
    o: ExplainOptions = {},
  ): Promise<Explanation[]> {
    return super.explain(await this.decode(images), o);
  }
}

/**
 * Loads a model (see {@link loadModel}) and returns its classifier, as `load()` does in Node:
 * `await (await load('models/fashion-mnist/')).classify(file, 5)`.
 */
export async function load(source: LoadSource, options: FetchModelOptions = {}): Promise<BrowserClassifier> {
  return new BrowserClassifier(await loadModel(source, options));
}
