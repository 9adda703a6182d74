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
import { Classifier, type ImageInput, type Prediction } from './infer/classifier.js';
import { imagenetClasses } from './infer/labels-node.js';
import type { GoogLeNetOptions } from './models/config.js';
import { GoogLeNet, type CreateOptions } from './models/model.js';
import { defaultPreprocess, importWeights, loadModelDir } from './weights/model-dir-node.js';

export * from './errors.js';
export * from './tensor.js';
export * from './graph/ir.js';
export { GraphBuilder, Sym } from './graph/builder.js';
export { lowerToOnnx, foldBatchNorm, type Weights } from './graph/lower.js';
export * as layers from './layers/index.js';
export * from './models/config.js';
export { buildGoogLeNet, INCEPTION_TABLE, STEM, AUX, scaleChannels } from './models/googlenet.js';
export { GoogLeNet, initWeights, type ForwardOutput, type PreprocessConfig, type CreateOptions } from './models/model.js';
export * from './models/summary.js';
export * from './infer/image.js';
export { decodeImageFile, decodeImageBuffer } from './infer/decode-node.js';
export { imagenetClasses, fashionMnistClasses, cifar10Classes, cifar100Classes } from './infer/labels-node.js';
export { Classifier, softmax, topK, type Prediction, type ImageInput } from './infer/classifier.js';
export { loadModelDir, saveModelDir, importWeights, saveTorchvisionSafetensors, defaultPreprocess } from './weights/model-dir-node.js';
export { loadStateDict } from './weights/formats.js';
export { getDefaultEngine, setDefaultEngine, type Engine, type Session } from './runtime/engine.js';

export type LoadSource =
  string | { model: string } | ({ weights: string } & GoogLeNetOptions) | ({ random: true; seed?: number } & GoogLeNetOptions);

/** A classifier that also takes image file paths (decoded with sharp). */
export class NodeClassifier extends Classifier {
  private async decode(images: string | ImageInput | (string | ImageInput)[]): Promise<ImageInput[]> {
    const list = Array.isArray(images) ? images : [images];
    return Promise.all(list.map((x) => (typeof x === 'string' ? decodeImageFile(x) : x)));
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
export async function load(source: LoadSource, create: CreateOptions = {}): Promise<NodeClassifier> {
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
  return new NodeClassifier(model);
}

// Training and evaluation
export {
  createTrainStep,
  TrainStep,
  type TrainStepOptions,
  type StepOptions,
  type StepResult,
  type OptimizerState,
} from './train/engine.js';
export { train, type TrainResult } from './train/train-node.js';
export { evaluate, type EvaluateOptions } from './eval/evaluate.js';
export * as data from './data/index.js';
