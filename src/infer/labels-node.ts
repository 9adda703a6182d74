/**
 * Class names of the datasets the project knows, in the order of their label indices.
 * `imagenetClasses()` reads `assets/imagenet-classes.json` and `imagenetWnids()` the WordNet ids
 * of the same classes, `assets/imagenet-wnids.json` (Node); the others are constants.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DatasetFormatError } from '../errors.js';

/**
 * The ImageNet-1k class file, resolved from this module: `src/infer/labels-node.ts` (tsx) and
 * `dist/infer/labels-node.js` (compiled) both sit two folders below the package root.
 */
export const IMAGENET_CLASSES_PATH: string = fileURLToPath(new URL('../../assets/imagenet-classes.json', import.meta.url));

/**
 * The WordNet ids of the 1000 ImageNet classes (`n01440764` …) in torchvision's order: the
 * ILSVRC2012 synsets sorted by id, which is how the standard `train/` and `val/` folders sort.
 */
export const IMAGENET_WNIDS_PATH: string = fileURLToPath(new URL('../../assets/imagenet-wnids.json', import.meta.url));

let imagenetCache: readonly string[] | undefined;
let wnidCache: readonly string[] | undefined;

/** The 1000 ImageNet class names in torchvision's order (index = logit index). Read once. */
export function imagenetClasses(): string[] {
  imagenetCache ??= readList(IMAGENET_CLASSES_PATH, 'class-name');
  return [...imagenetCache];
}

/** The 1000 ImageNet WordNet ids in torchvision's order (index = logit index): folder name → class. Read once. */
export function imagenetWnids(): string[] {
  wnidCache ??= readList(IMAGENET_WNIDS_PATH, 'WordNet-id');
  return [...wnidCache];
}

function readList(file: string, what: string): readonly string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `not valid JSON (${(err as Error).message})`;
    throw new DatasetFormatError(`${file}: ${why}`);
  }
  if (!Array.isArray(parsed) || parsed.length !== 1000 || !parsed.every((s): s is string => typeof s === 'string')) {
    const found = Array.isArray(parsed) ? `an array of ${parsed.length}` : typeof parsed;
    throw new DatasetFormatError(`${file}: expected a JSON array of 1000 ${what} strings, found ${found}`);
  }
  return Object.freeze(parsed);
}

/** Class names of the built-in datasets, in their official orders (one list, kept in `src/data/core.ts`). */
export {
  FASHION_MNIST_CLASSES as fashionMnistClasses,
  CIFAR10_CLASSES as cifar10Classes,
  CIFAR100_CLASSES as cifar100Classes,
} from '../data/core.js';
