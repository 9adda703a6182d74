/**
 * Class names of the datasets the project knows, in the order of their label indices.
 * `imagenetClasses()` reads `assets/imagenet-classes.json` (Node); the others are constants.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DatasetFormatError } from '../errors.js';

/**
 * The ImageNet-1k class file, resolved from this module: `src/infer/labels.ts` (tsx) and
 * `dist/infer/labels.js` (compiled) both sit two folders below the package root.
 */
export const IMAGENET_CLASSES_PATH: string = fileURLToPath(new URL('../../assets/imagenet-classes.json', import.meta.url));

let imagenetCache: readonly string[] | undefined;

/** The 1000 ImageNet class names in torchvision's order (index = logit index). Read once. */
export function imagenetClasses(): string[] {
  if (!imagenetCache) {
    const file = IMAGENET_CLASSES_PATH;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `not valid JSON (${(err as Error).message})`;
      throw new DatasetFormatError(`${file}: ${why}`);
    }
    if (!Array.isArray(parsed) || parsed.length !== 1000 || !parsed.every((s): s is string => typeof s === 'string')) {
      const found = Array.isArray(parsed) ? `an array of ${parsed.length}` : typeof parsed;
      throw new DatasetFormatError(`${file}: expected a JSON array of 1000 class-name strings, found ${found}`);
    }
    imagenetCache = Object.freeze(parsed);
  }
  return [...imagenetCache];
}

/** Fashion-MNIST's 10 classes, official order (as torchvision's `FashionMNIST.classes`). */
export const fashionMnistClasses: readonly string[] = Object.freeze([
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
]);

/** CIFAR-10's 10 classes, official order (`batches.meta` `label_names`). */
export const cifar10Classes: readonly string[] = Object.freeze([
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
]);

/** CIFAR-100's 100 fine labels, official order (`meta` `fine_label_names`, alphabetical). */
export const cifar100Classes: readonly string[] = Object.freeze([
  'apple', 'aquarium_fish', 'baby', 'bear', 'beaver', 'bed', 'bee', 'beetle', 'bicycle', 'bottle',
  'bowl', 'boy', 'bridge', 'bus', 'butterfly', 'camel', 'can', 'castle', 'caterpillar', 'cattle',
  'chair', 'chimpanzee', 'clock', 'cloud', 'cockroach', 'couch', 'crab', 'crocodile', 'cup', 'dinosaur',
  'dolphin', 'elephant', 'flatfish', 'forest', 'fox', 'girl', 'hamster', 'house', 'kangaroo', 'keyboard',
  'lamp', 'lawn_mower', 'leopard', 'lion', 'lizard', 'lobster', 'man', 'maple_tree', 'motorcycle', 'mountain',
  'mouse', 'mushroom', 'oak_tree', 'orange', 'orchid', 'otter', 'palm_tree', 'pear', 'pickup_truck', 'pine_tree',
  'plain', 'plate', 'poppy', 'porcupine', 'possum', 'rabbit', 'raccoon', 'ray', 'road', 'rocket',
  'rose', 'sea', 'seal', 'shark', 'shrew', 'skunk', 'skyscraper', 'snail', 'snake', 'spider',
  'squirrel', 'streetcar', 'sunflower', 'sweet_pepper', 'table', 'tank', 'telephone', 'television', 'tiger', 'tractor',
  'train', 'trout', 'tulip', 'turtle', 'wardrobe', 'whale', 'willow_tree', 'wolf', 'woman', 'worm',
]);
