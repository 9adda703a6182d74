/**
 * googlenet-ts for Node.js: GoogLeNet (Inception v1) built, imported, trained and run on
 * onnxruntime-node.
 *
 *   import { load } from 'googlenet-ts';
 *   const net = await load({ weights: 'imagenet' });   // downloaded once, then from the cache
 *   console.log(await net.classify('cat.jpg', 3));
 */
import './runtime/engine-node.js';
import { decodeImageFile } from './image/decode-node.js';
import { Classifier, defaultPreprocess, type ImageClassifier, type ImageInput, type Prediction } from './infer/classifier.js';
import type { ExplainOptions, Explanation } from './infer/explain.js';
import { imagenetClasses } from './infer/labels-node.js';
import { lookupWeights, resolveWeights, type FetchWeightsOptions } from './weights/hub-node.js';
import { entryOptions, type WeightsEntry } from './weights/registry.js';
import type { ModelOptions } from './models/config.js';
import { GoogLeNet, type CreateOptions } from './models/model.js';
import { importWeights, loadModelDir } from './weights/model-dir-node.js';
import { checkLoadSource } from './weights/model-dir.js';

export * from './api.js';
export { selectDevice, cudaProviderInstalled, type DeviceChoice } from './runtime/engine-node.js';
export { decodeImageFile, decodeImageBuffer } from './image/decode-node.js';
export { writeExplanationPng } from './infer/explain-node.js';
export { imagenetClasses, imagenetWnids, IMAGENET_CLASSES_PATH, IMAGENET_WNIDS_PATH } from './infer/labels-node.js';
export {
  resolveWeights,
  fetchWeightsFile,
  weightsCacheDir,
  lookupWeights,
  requireWeights,
  listWeights,
  loadWeightsRegistryFile,
  type FetchWeightsOptions,
  type ResolvedWeights,
  type DownloadProgress,
} from './weights/hub-node.js';
export { loadModelDir, readModelDirConfig, saveModelDir, importWeights, saveTorchvisionSafetensors } from './weights/model-dir-node.js';
export { loadSafetensorsFile, saveSafetensorsFile } from './weights/safetensors-node.js';
export { loadStateDict } from './weights/formats-node.js';

/**
 * What {@link load} takes: a model directory; `{ weights }` with a registry name (`'imagenet'`),
 * an http(s) URL or a state dict file, plus GoogLeNet options (a name's own options apply unless
 * given here) and how to download; or `{ random: true }`.
 */
export type LoadSource =
  | string
  | { model: string }
  | ({ weights: string; download?: FetchWeightsOptions } & ModelOptions)
  | ({ random: true; seed?: number } & ModelOptions);

/** A classifier that also takes image file paths (decoded with sharp). */
export class NodeClassifier extends Classifier implements ImageClassifier<string> {
  private async decode(images: string | ImageInput | (string | ImageInput)[]): Promise<ImageInput[]> {
    const list = Array.isArray(images) ? images : [images];
    return Promise.all(list.map(async (x) => (typeof x === 'string' ? decodeImageFile(x) : x)));
  }
  override async classify(images: string | ImageInput | (string | ImageInput)[], k = 5): Promise<Prediction[][]> {
    return super.classify(await this.decode(images), k);
  }
  override async infer(images: string | ImageInput | (string | ImageInput)[], o: { taps?: string[] } = {}) {
    return super.infer(await this.decode(images), o);
  }
  override async explain(images: string | ImageInput | (string | ImageInput)[], o: ExplainOptions = {}): Promise<Explanation[]> {
    return super.explain(await this.decode(images), o);
  }
}

/**
 * Loads a model: a model directory (path or `{ model }`), a torchvision state dict
 * (`{ weights, preset, numClasses, … }`), or fresh weights (`{ random: true, … }`).
 * 1000-class models get the ImageNet labels unless they carry their own.
 */
export async function loadModel(source: LoadSource, create: CreateOptions = {}): Promise<GoogLeNet> {
  checkLoadSource(source);
  let model: GoogLeNet;
  if (typeof source === 'string') model = loadModelDir(source, create);
  else if ('model' in source) model = loadModelDir(source.model, create);
  else if ('weights' in source) model = await loadWeights(source, create);
  else {
    const { random: _r, seed, ...opts } = source;
    model = new GoogLeNet(opts, { ...create, ...(seed !== undefined ? { seed } : {}) });
  }
  if (!model.labels && model.config.includeTop && model.config.numClasses === 1000) model.labels = imagenetClasses();
  model.preprocess ??= defaultPreprocess(model.config);
  return model;
}

/** A `{ weights }` source: a name, URL or file, resolved and cached by `weights/hub-node.ts`. */
async function loadWeights(source: { weights: string; download?: FetchWeightsOptions } & ModelOptions, create: CreateOptions) {
  const { weights, download, ...opts } = source;
  // The architecture is checked before anything is downloaded.
  const options = entryOptions(lookupWeights(weights), opts, download?.option ?? '--weights');
  const r = await resolveWeights(weights, download);
  if (r.kind === 'modelDir') return loadModelDir(r.path, create);
  const model = importWeights(r.path, options, create);
  applyEntry(model, r.entry);
  return model;
}

/** An entry's categories and preprocessing, when the model's classes match them. */
function applyEntry(model: GoogLeNet, entry: WeightsEntry | undefined): void {
  if (!entry) return;
  const labels = entry.categories === 'imagenet' ? imagenetClasses() : entry.categories;
  if (labels && model.config.includeTop && labels.length === model.config.numClasses) model.labels = labels;
  if (entry.preprocessing && model.config.inputSize === entry.preprocessing.crop) {
    const { interpolation: _i, ...p } = entry.preprocessing;
    model.preprocess = { ...p, mean: [...p.mean], std: [...p.std] };
  }
}

/** Loads a model (see {@link loadModel}) and returns its classifier: `(await load(dir)).classify('shoe.png')`. */
export async function load(source: LoadSource, create: CreateOptions = {}): Promise<NodeClassifier> {
  return new NodeClassifier(await loadModel(source, create));
}

// Training from files (run folders, checkpoints, plots), evaluation reports, and the datasets the CLI reads.
export { train, type TrainResult } from './train/train-node.js';
export {
  OPTIMIZERS,
  KEEP,
  TRAIN_OPTIONS,
  TRAIN_DEFAULTS,
  validateTrainOptions,
  type TrainOptions,
  type TrainOptionName,
  type OptimizerName,
} from './train/config.js';
export type { OptionSpec } from './train/options.js';
export { SCHEDULES } from './train/schedule.js';
export { formatMetrics } from './eval/metrics.js';
export { CROP_COUNTS, isCropCount, type CropCount } from './eval/crops.js';
export { writeEvalFiles } from './eval/files-node.js';
export { writeFileAtomic, makeDir, type WriteOptions } from './files-node.js';
export * as data from './data/index-node.js';

// Serving: a model's HTTP routes as a fastify plugin (dynamic batching, the Open Inference
// Protocol, Prometheus metrics), and the server `googlenet serve` runs with them.
export { createServer, type ServeOptions, type ModelServer } from './serve/server-node.js';
export { modelRoutes, SERVE_DEFAULTS, type ModelRoutes, type ModelRoutesOptions } from './serve/routes-node.js';
export { Batcher, BATCHER_DEFAULTS, type BatcherOptions } from './serve/batcher.js';
export { listImages, predictFiles, IMAGE_EXTENSIONS, type FileResult, type PredictFilesOptions } from './infer/predict-files-node.js';
export { DecodePool, defaultDecodeWorkers, type DecodePoolOptions } from './infer/decode-pool-node.js';

// Prediction across machines: BullMQ on Redis.
export { connectRedis, submitRun, runStatus, collectRun, QUEUE_NAME } from './queue/queue-node.js';
export { startWorker, type WorkerOptions } from './queue/worker-node.js';
