/**
 * Class names of the datasets the project knows, in the order of their label indices.
 * `imagenetClasses()` reads `assets/imagenet-classes.json` (Node); the others are constants.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DatasetFormatError } from '../errors.js';

/**
 * The ImageNet-1k class file, resolved from this module: `src/infer/labels-node.ts` (tsx) and
 * `dist/infer/labels-node.js` (compiled) both sit two folders below the package root.
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

/** Class names of the built-in datasets, in their official orders (one list, kept in `src/data/core.ts`). */
export {
  FASHION_MNIST_CLASSES as fashionMnistClasses,
  CIFAR10_CLASSES as cifar10Classes,
  CIFAR100_CLASSES as cifar100Classes,
} from '../data/core.js';
