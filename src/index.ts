/**
 * googlenet-ts for Node.js: GoogLeNet (Inception v1) built, imported, trained and run on
 * onnxruntime-node.
 *
 *   import { load } from 'googlenet-ts';
 *   const net = await load({ model: 'models/fashion-mnist' });
 *   console.log(await net.classify('shoe.png', 3));
 */
import './runtime/engine-node.js';
import { decodeImageFile } from './infer/decode-node.js';
import { Classifier, defaultPreprocess, type ImageClassifier, type ImageInput, type Prediction } from './infer/classifier.js';
import { imagenetClasses } from './infer/labels-node.js';
import type { GoogLeNetOptions } from './models/config.js';
import { GoogLeNet, type CreateOptions } from './models/model.js';
import { importWeights, loadModelDir } from './weights/model-dir-node.js';

export * from './api.js';
export { decodeImageFile, decodeImageBuffer } from './infer/decode-node.js';
export { imagenetClasses, IMAGENET_CLASSES_PATH } from './infer/labels-node.js';
export { loadModelDir, readModelDirConfig, saveModelDir, importWeights, saveTorchvisionSafetensors } from './weights/model-dir-node.js';
export { loadSafetensorsFile, saveSafetensorsFile } from './weights/safetensors-node.js';
export { loadStateDict } from './weights/formats-node.js';

export type LoadSource =
  string | { model: string } | ({ weights: string } & GoogLeNetOptions) | ({ random: true; seed?: number } & GoogLeNetOptions);

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
}

/**
 * Loads a model: a model directory (path or `{ model }`), a torchvision state dict
 * (`{ weights, preset, numClasses, … }`), or fresh weights (`{ random: true, … }`).
 * 1000-class models get the ImageNet labels unless they carry their own.
 */
export async function loadModel(source: LoadSource, create: CreateOptions = {}): Promise<GoogLeNet> {
  let model: GoogLeNet;
  if (typeof source === 'string') model = loadModelDir(source, create);
  else if ('model' in source) model = loadModelDir(source.model, create);
  else if ('weights' in source) {
    const { weights, ...opts } = source;
    model = importWeights(weights, opts, create);
  } else {
    const { random: _r, seed, ...opts } = source;
    model = new GoogLeNet(opts, { ...create, ...(seed !== undefined ? { seed } : {}) });
  }
  if (!model.labels && model.config.numClasses === 1000) model.labels = imagenetClasses();
  model.preprocess ??= defaultPreprocess(model.config);
  return model;
}

/** Loads a model (see {@link loadModel}) and returns its classifier: `(await load(dir)).classify('shoe.png')`. */
export async function load(source: LoadSource, create: CreateOptions = {}): Promise<NodeClassifier> {
  return new NodeClassifier(await loadModel(source, create));
}

// Training from files (run folders, checkpoints, plots), evaluation reports, and the datasets the CLI reads.
export { train, type TrainResult } from './train/train-node.js';
export { OPTIMIZERS, KEEP, type TrainOptions, type OptimizerName } from './train/config.js';
export { SCHEDULES } from './train/schedule.js';
export { formatMetrics } from './eval/metrics.js';
export { CROP_COUNTS, isCropCount, type CropCount } from './eval/crops.js';
export { writeEvalFiles } from './eval/files-node.js';
export { writeFileAtomic, makeDir, type WriteOptions } from './files-node.js';
export * as data from './data/index-node.js';
