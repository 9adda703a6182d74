/**
 * The dataset contract shared by every format (IDX, CIFAR binary, image folder): metadata, one
 * sample at a time as HWC uint8 pixels, and a structured-cloneable `source()` from which a worker
 * thread rebuilds the same dataset. `dataset.ts` re-exports everything here and adds `openDataset`.
 */

import type { RgbImage } from '../image/image.js';
import { OptionError } from '../errors.js';

export interface Sample {
  image: RgbImage;
  /** Class index in [0, numClasses). */
  label: number;
}

/** What a dataset is, without its pixels (JSON-serializable; checkpoints store it). */
export interface DatasetInfo {
  /** `fashion-mnist`, `mnist`, `cifar10`, `cifar100`, `folder`, `fashion-mnist-subset`, … */
  name: string;
  numClasses: number;
  /** Class names, index = label. */
  classes: string[];
  /** Channels of every sample's `image` (folders are decoded to RGB). */
  channels: 1 | 3;
  /** Sample height in pixels, or null when samples differ in size (image folders). */
  height: number | null;
  /** Sample width in pixels, or null when samples differ in size (image folders). */
  width: number | null;
  /** Per-channel mean of pixel/255 over the training split (length = channels). */
  mean: number[];
  /** Per-channel standard deviation of pixel/255 over the training split (length = channels). */
  std: number[];
}

export interface Dataset extends DatasetInfo {
  /** Number of samples. */
  readonly size: number;
  /** Sample `i` (0 ≤ i < size). In-memory datasets answer synchronously; folders decode on demand. */
  get(i: number): Promise<Sample> | Sample;
  /**
   * A structured-cloneable description from which `datasetFromSource` rebuilds this dataset in a
   * worker thread (in-memory pixels travel as a SharedArrayBuffer, not a copy). Datasets without
   * it are prepared on the main thread by the loader.
   */
  source?(): DatasetSource;
}

/** How a worker rebuilds a dataset (see `Dataset.source`). */
export type DatasetSource =
  | { kind: 'memory'; info: DatasetInfo; images: Uint8Array; labels: Uint8Array | Int32Array }
  | { kind: 'folder'; info: DatasetInfo; root: string; files: string[]; labels: Int32Array; onUnreadable: 'skip' | 'error' }
  | { kind: 'subset'; parent: DatasetSource; indices: Int32Array };

/**
 * A copy of `a` backed by a SharedArrayBuffer (or `a` itself when it already is), so workers share
 * it. Where there is no SharedArrayBuffer (a page that is not cross-origin isolated), `a` itself.
 */
export function toShared(a: Uint8Array): Uint8Array {
  if (typeof SharedArrayBuffer === 'undefined' || a.buffer instanceof SharedArrayBuffer) return a;
  const out = new Uint8Array(new SharedArrayBuffer(a.length));
  out.set(a);
  return out;
}

function checkIndex(i: number, size: number, name: string): void {
  if (!Number.isInteger(i) || i < 0 || i >= size)
    throw new OptionError(`${name}: sample index ${i} is out of range [0, ${size})`, { option: 'index' });
}

/**
 * A dataset held in memory as one N×H×W×C uint8 array and N labels (IDX and CIFAR). `get(i)`
 * returns a view (no copy); transforms never write into their input.
 */
export class MemoryDataset implements Dataset {
  readonly name: string;
  readonly numClasses: number;
  readonly classes: string[];
  readonly channels: 1 | 3;
  readonly height: number;
  readonly width: number;
  readonly mean: number[];
  readonly std: number[];
  /** N×H×W×C pixels. */
  readonly images: Uint8Array;
  /** N labels. */
  readonly labels: Uint8Array | Int32Array;

  constructor(info: DatasetInfo & { height: number; width: number }, images: Uint8Array, labels: Uint8Array | Int32Array) {
    this.name = info.name;
    this.numClasses = info.numClasses;
    this.classes = [...info.classes];
    this.channels = info.channels;
    this.height = info.height;
    this.width = info.width;
    this.mean = [...info.mean];
    this.std = [...info.std];
    const per = info.height * info.width * info.channels;
    if (images.length !== labels.length * per) {
      throw new OptionError(
        `${info.name}: ${images.length} pixel bytes do not hold ${labels.length} images of ${info.height}×${info.width}×${info.channels}`,
        { option: 'images' },
      );
    }
    this.images = images;
    this.labels = labels;
  }

  get size(): number {
    return this.labels.length;
  }

  /** Pixels of sample `i` as an H×W×C view into `images`. */
  image(i: number): RgbImage {
    checkIndex(i, this.size, this.name);
    const per = this.height * this.width * this.channels;
    return { width: this.width, height: this.height, channels: this.channels, data: this.images.subarray(i * per, (i + 1) * per) };
  }

  get(i: number): Sample {
    return { image: this.image(i), label: this.labels[i] as number };
  }

  info(): DatasetInfo {
    return infoOf(this);
  }

  source(): DatasetSource {
    return { kind: 'memory', info: this.info(), images: this.images, labels: this.labels };
  }
}

/** The metadata of any dataset as a plain object. */
export function infoOf(d: DatasetInfo): DatasetInfo {
  return {
    name: d.name,
    numClasses: d.numClasses,
    classes: [...d.classes],
    channels: d.channels,
    height: d.height,
    width: d.width,
    mean: [...d.mean],
    std: [...d.std],
  };
}

/** The samples of `parent` at `indices`, in that order (e.g. a held-out validation split). */
export class SubsetDataset implements Dataset {
  readonly name: string;
  readonly numClasses: number;
  readonly classes: string[];
  readonly channels: 1 | 3;
  readonly height: number | null;
  readonly width: number | null;
  readonly mean: number[];
  readonly std: number[];
  readonly parent: Dataset;
  readonly indices: Int32Array;

  constructor(parent: Dataset, indices: ArrayLike<number>) {
    const info = infoOf(parent);
    this.name = info.name;
    this.numClasses = info.numClasses;
    this.classes = info.classes;
    this.channels = info.channels;
    this.height = info.height;
    this.width = info.width;
    this.mean = info.mean;
    this.std = info.std;
    this.parent = parent;
    this.indices = Int32Array.from(indices);
    for (const i of this.indices) checkIndex(i, parent.size, `${parent.name} subset`);
  }

  get size(): number {
    return this.indices.length;
  }

  get(i: number): Promise<Sample> | Sample {
    checkIndex(i, this.size, `${this.name} subset`);
    return this.parent.get(this.indices[i] as number);
  }

  source(): DatasetSource {
    if (!this.parent.source)
      throw new OptionError(`${this.name}: the parent dataset has no source() to share with workers`, { option: 'parent' });
    return { kind: 'subset', parent: this.parent.source(), indices: this.indices };
  }
}

export type DatasetName = 'fashion-mnist' | 'mnist' | 'cifar10' | 'cifar100' | 'folder' | 'fashion-mnist-subset';
export const DATASET_NAMES: readonly DatasetName[] = ['fashion-mnist', 'mnist', 'cifar10', 'cifar100', 'folder', 'fashion-mnist-subset'];

/** Per-dataset normalization statistics (mean/std of pixel/255 over the training split). */
export const DATASET_STATS: Readonly<
  Record<'fashion-mnist' | 'mnist' | 'cifar10' | 'cifar100' | 'imagenet', { mean: readonly number[]; std: readonly number[] }>
> = {
  'fashion-mnist': { mean: [0.286], std: [0.353] },
  mnist: { mean: [0.1307], std: [0.3081] },
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
  cifar100: { mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] },
  imagenet: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
};

export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];
const MNIST_CLASSES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
export const CIFAR10_CLASSES: readonly string[] = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];
export const CIFAR100_CLASSES: readonly string[] = [
  'apple',
  'aquarium_fish',
  'baby',
  'bear',
  'beaver',
  'bed',
  'bee',
  'beetle',
  'bicycle',
  'bottle',
  'bowl',
  'boy',
  'bridge',
  'bus',
  'butterfly',
  'camel',
  'can',
  'castle',
  'caterpillar',
  'cattle',
  'chair',
  'chimpanzee',
  'clock',
  'cloud',
  'cockroach',
  'couch',
  'crab',
  'crocodile',
  'cup',
  'dinosaur',
  'dolphin',
  'elephant',
  'flatfish',
  'forest',
  'fox',
  'girl',
  'hamster',
  'house',
  'kangaroo',
  'keyboard',
  'lamp',
  'lawn_mower',
  'leopard',
  'lion',
  'lizard',
  'lobster',
  'man',
  'maple_tree',
  'motorcycle',
  'mountain',
  'mouse',
  'mushroom',
  'oak_tree',
  'orange',
  'orchid',
  'otter',
  'palm_tree',
  'pear',
  'pickup_truck',
  'pine_tree',
  'plain',
  'plate',
  'poppy',
  'porcupine',
  'possum',
  'rabbit',
  'raccoon',
  'ray',
  'road',
  'rocket',
  'rose',
  'sea',
  'seal',
  'shark',
  'shrew',
  'skunk',
  'skyscraper',
  'snail',
  'snake',
  'spider',
  'squirrel',
  'streetcar',
  'sunflower',
  'sweet_pepper',
  'table',
  'tank',
  'telephone',
  'television',
  'tiger',
  'tractor',
  'train',
  'trout',
  'tulip',
  'turtle',
  'wardrobe',
  'whale',
  'willow_tree',
  'wolf',
  'woman',
  'worm',
];
export const CIFAR100_COARSE_CLASSES: readonly string[] = [
  'aquatic_mammals',
  'fish',
  'flowers',
  'food_containers',
  'fruit_and_vegetables',
  'household_electrical_devices',
  'household_furniture',
  'insects',
  'large_carnivores',
  'large_man-made_outdoor_things',
  'large_natural_outdoor_scenes',
  'large_omnivores_and_herbivores',
  'medium_mammals',
  'non-insect_invertebrates',
  'people',
  'reptiles',
  'small_mammals',
  'trees',
  'vehicles_1',
  'vehicles_2',
];

/** The metadata of the IDX datasets (greyscale 28×28; height and width come from the files). */
export function idxDatasetInfo(
  name: 'fashion-mnist' | 'mnist' | 'fashion-mnist-subset',
): Omit<DatasetInfo, 'height' | 'width' | 'channels'> {
  const stats = DATASET_STATS[name === 'mnist' ? 'mnist' : 'fashion-mnist'];
  const classes = name === 'mnist' ? MNIST_CLASSES : FASHION_MNIST_CLASSES;
  return { name, numClasses: 10, classes: [...classes], mean: [...stats.mean], std: [...stats.std] };
}
