/**
 * Classification in the style of tfjs-models: `classify(image, topK)` and `infer(image, { taps })`
 * on decoded images or on already-normalized NCHW tensors. Runtime-agnostic (Node and browser).
 */
import type { ModelConfig } from '../models/config.js';
import type { GoogLeNet, PreprocessConfig } from '../models/model.js';
import { describeValue, OptionError } from '../errors.js';
import { checkFiniteLogits, checkTensor, type Tensor } from '../tensor.js';
import type { RgbImage } from '../image/image.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../image/normalize.js';
import { preprocess, stackBatch } from './image.js';
import { explainTensor, type ExplainOptions, type Explanation } from './explain.js';
import { softmax, type Prediction } from './prediction.js';

/**
 * The preprocessing of a model that does not carry its own: ImageNet mean/std for RGB (0.5/0.5
 * for greyscale); resize the shorter side to 256 and crop 224 at 224 (scaled alike for larger
 * inputs: 342 and 299 for Inception v3, as torchvision), a plain resize to the input size for small inputs.
 */
export function defaultPreprocess(cfg: Pick<ModelConfig, 'inChannels' | 'inputSize'>): PreprocessConfig {
  const grey = cfg.inChannels === 1;
  const resize = cfg.inputSize >= 224 ? Math.round((cfg.inputSize * 256) / 224) : cfg.inputSize;
  return { resize, crop: cfg.inputSize, mean: grey ? [0.5] : [...IMAGENET_MEAN], std: grey ? [0.5] : [...IMAGENET_STD] };
}

export { softmax, type Prediction } from './prediction.js';

/** The k most probable classes of each row of N×K logits. */
export function topK(logits: Tensor, k: number, labels?: readonly string[]): Prediction[][] {
  checkTensor(logits, 'logits');
  if (logits.dims.length !== 2) throw new OptionError(`logits: expected N×K logits, got [${logits.dims.join('×')}]`, { option: 'logits' });
  checkTopK(k);
  const [n, c] = logits.dims as [number, number];
  checkFiniteLogits(logits.data, n, c);
  const out: Prediction[][] = [];
  for (let i = 0; i < n; i++) {
    const p = softmax(logits.data.subarray(i * c, (i + 1) * c));
    const order = Array.from(p.keys()).sort((a, b) => p[b]! - p[a]!);
    out.push(order.slice(0, Math.min(k, c)).map((j) => ({ index: j, label: labels?.[j] ?? String(j), probability: p[j]! })));
  }
  return out;
}

export type ImageInput = RgbImage | Tensor;

/** k of `classify`/`topK`: an integer ≥ 1 (more than the classes gives every class). */
function checkTopK(k: unknown): void {
  if (!Number.isSafeInteger(k) || (k as number) < 1)
    throw new OptionError(`k: expected an integer ≥ 1, received ${describeValue(k)}`, { option: 'k' });
}

/** A tensor (checked) or something to decode as an image; anything else is refused by name. */
function isTensor(x: ImageInput): x is Tensor {
  if (typeof x !== 'object' || x === null || ArrayBuffer.isView(x) || Array.isArray(x)) {
    throw new OptionError(`images: expected a decoded image { width, height, channels, data } or a tensor, received ${describeValue(x)}`, {
      option: 'images',
    });
  }
  if (!('dims' in x)) return false;
  checkTensor(x, 'images');
  return true;
}

/**
 * What `load()` returns in Node and in the browser: one model's predictions and activations.
 * `I` is what the entry accepts as a picture besides decoded images and tensors: a file path
 * in Node, a Blob, `<img>` or ImageBitmap in the browser.
 */
export interface ImageClassifier<I = ImageInput> {
  readonly model: GoogLeNet;
  /** Top-k predictions per picture, most probable first. */
  classify(images: I | ImageInput | (I | ImageInput)[], k?: number): Promise<Prediction[][]>;
  /** Logits (a model without its top: `features`) and named activations (`inception4a`, `Mixed_6e`, `avg_pool`, …) of the pictures as one batch. */
  infer(images: I | ImageInput | (I | ImageInput)[], options?: { taps?: string[] }): Promise<Record<string, Tensor>>;
  /**
   * Why the model answers what it answers, per picture: the Grad-CAM map of a class (default the
   * top one) at a tap (default the last feature map), each head's top class, and with `branches`
   * an Inception module's branch activations, all from one pass.
   */
  explain(images: I | ImageInput | (I | ImageInput)[], options?: ExplainOptions): Promise<Explanation[]>;
  /** Releases the model's ONNX Runtime sessions. */
  dispose(): Promise<void>;
}

/** Classifies decoded images and tensors; the entries extend it to decode their own inputs. */
export class Classifier implements ImageClassifier<never> {
  constructor(
    readonly model: GoogLeNet,
    /** Image preprocessing; defaults to the model's, else {@link defaultPreprocess}. */
    readonly preprocessing: PreprocessConfig = model.preprocess ?? defaultPreprocess(model.config),
  ) {}

  /** Decoded images → N×C×H×W tensor with the model's preprocessing; tensors pass through. */
  toInput(images: ImageInput | ImageInput[]): Tensor {
    const list = Array.isArray(images) ? images : [images];
    if (list.length === 1 && isTensor(list[0]!)) return list[0] as Tensor;
    const p = this.preprocessing;
    return stackBatch(
      list.map((img) =>
        isTensor(img)
          ? img
          : preprocess(img, { resize: p.resize, crop: p.crop, mean: p.mean, std: p.std, channels: this.model.config.inChannels as 1 | 3 }),
      ),
    );
  }

  async logits(images: ImageInput | ImageInput[]): Promise<Tensor> {
    return (await this.model.forward(this.toInput(images))).logits;
  }

  /** Top-k predictions per image. */
  async classify(images: ImageInput | ImageInput[], k = 5): Promise<Prediction[][]> {
    checkTopK(k);
    return topK(await this.logits(images), k, this.model.labels);
  }

  /** Logits and named intermediate activations (`inception4a`, `pool5`, …). */
  async infer(images: ImageInput | ImageInput[], { taps = [] }: { taps?: string[] } = {}): Promise<Record<string, Tensor>> {
    return this.model.infer(this.toInput(images), { taps });
  }

  /** Grad-CAM, the heads' answers and branch activations per image (see {@link ImageClassifier.explain}). */
  async explain(images: ImageInput | ImageInput[], options: ExplainOptions = {}): Promise<Explanation[]> {
    return explainTensor(this.model, this.toInput(images), options);
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }
}
