/**
 * googlenet-ts for browsers (`googlenet-ts/browser`): the same model code, graphs, weight format
 * and preprocessing as Node, on onnxruntime-web (WebGPU, else WebAssembly with SIMD and threads).
 *
 *   import { init, loadModel, decodeImage, Classifier } from 'googlenet-ts/browser';
 *   const backend = await init();                    // { kind: 'wasm', label: 'WebAssembly (SIMD, 4 threads)' }
 *   const model = await loadModel('models/fashion-mnist/');
 *   const top5 = await new Classifier(model).classify(await decodeImage(file), 5);
 *
 * Serve the page with `Cross-Origin-Opener-Policy: same-origin` and
 * `Cross-Origin-Embedder-Policy: require-corp` for multi-threaded WebAssembly, and serve
 * onnxruntime-web's `dist/ort-wasm-simd-threaded*.{wasm,mjs}` under `ort/` (or pass `wasmPaths`).
 * Nothing here imports a Node module.
 */
import type { GoogLeNet } from '../models/model.js';
import { currentBackend, initBrowserEngine, type BackendInfo, type BrowserEngineOptions } from './engine.js';
import { fetchModelDir, type FetchModelOptions } from './model-dir.js';

export * from '../errors.js';
export * from '../tensor.js';
export * from '../graph/ir.js';
export { GraphBuilder, Sym } from '../graph/builder.js';
export { lowerToOnnx, foldBatchNorm, type Weights } from '../graph/lower.js';
export * as layers from '../layers/index.js';
export * from '../models/config.js';
export { buildGoogLeNet, INCEPTION_TABLE, STEM, AUX, scaleChannels } from '../models/googlenet.js';
export { GoogLeNet, initWeights, type ForwardOutput, type PreprocessConfig, type CreateOptions } from '../models/model.js';
export * from '../models/summary.js';
export * from '../infer/image.js';
export { Classifier, softmax, topK, type Prediction, type ImageInput } from '../infer/classifier.js';
export { readSafetensors, parseSafetensors, writeSafetensors, type StoredTensor } from '../weights/safetensors.js';
export { getDefaultEngine, setDefaultEngine, ortEngine, type Engine, type Session } from '../runtime/engine.js';
export { createTrainStep, type TrainStep, type TrainStepOptions, type StepResult } from '../train/engine.js';
export type { Dataset } from '../data/core.js';
export { evaluate, type EvaluateOptions } from '../eval/evaluate.js';
export type { EvalMetrics } from '../eval/metrics.js';
export { initBrowserEngine, currentBackend, wasmSimdSupported, type BackendInfo, type BrowserEngineOptions } from './engine.js';
export { decodeImage, type DecodedImage, type DecodeImageOptions } from './decode.js';
export {
  MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  WEB_MANIFEST_FORMAT,
  checkModelDirConfig,
  describeConfig,
  isUntrainedSource,
  modelSource,
  modelDirFiles,
  modelFromFiles,
  webManifest,
  type ModelDirConfig,
  type ModelDirFiles,
  type WebManifest,
} from '../weights/model-dir.js';
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
export { zipFiles, crc32 } from './zip.js';

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
 * Loads a model directory over HTTP (`<url>/config.json` + `<url>/model.safetensors`, what
 * `googlenet export --format web` writes), on the default browser engine unless `engine` is given.
 * @throws ModelLoadError (404, network, not JSON) or WeightFormatError (weights do not fit the config).
 */
export async function loadModel(url: string, options: FetchModelOptions = {}): Promise<GoogLeNet> {
  const engine = options.engine ?? (await initBrowserEngine()).engine;
  return fetchModelDir(url, { ...options, engine });
}
