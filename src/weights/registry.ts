/**
 * Named weights: one typed table of what a user needs to load pretrained GoogLeNet weights by
 * name, like torchvision's `GoogLeNet_Weights.IMAGENET1K_V1`, Keras' `weights='imagenet'` or
 * timm's `pretrained=True`: where the file is, its SHA-256, the architecture options it needs,
 * its preprocessing, its categories and its published figures. Platform-free: the Node entry
 * downloads and caches (`hub-node.ts`), the browser entry fetches into the Cache API.
 *
 * A user adds entries with {@link registerWeights} or from a JSON file ({@link parseWeightsRegistry}).
 */
import { OptionError, WeightFormatError } from '../errors.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../image/normalize.js';
import type { GoogLeNetOptions } from '../models/config.js';
import type { PreprocessConfig } from '../models/model.js';

/** Image preprocessing of an entry: the model's `PreprocessConfig` plus the resampling filter. */
export interface WeightsPreprocessing extends PreprocessConfig {
  /** Filter of the resize (torchvision's `InterpolationMode`). */
  interpolation: 'bilinear';
}

/** Accuracy a weights entry was published with. */
export interface WeightsMetrics {
  /** Top-1 accuracy in percent. */
  acc1: number;
  /** Top-5 accuracy in percent. */
  acc5: number;
  /** Where it was measured, e.g. "ImageNet-1K val, 1 crop". */
  dataset: string;
}

/** One named set of weights. Exactly one of `url` and `modelDir`. */
export interface WeightsEntry {
  /** The name users type: `--weights NAME`, `load({ weights: NAME })`. */
  name: string;
  /** Other names for it (torchvision's `GoogLeNet_Weights` spelling, e.g. `torchvision/IMAGENET1K_V1`). */
  aliases?: string[];
  /** One line for `googlenet weights list`. */
  description: string;
  /** A torchvision state dict (.pth or .safetensors) to download and cache. */
  url?: string;
  /**
   * SHA-256 of the file (hex, the whole digest or a prefix of at least 8 digits). Default: the
   * prefix in the URL's file name (`name-<sha256 prefix>.ext`, torch.hub's convention), if any.
   */
  sha256?: string;
  /** A model directory shipped with the package, relative to its root (no download). */
  modelDir?: string;
  /** Architecture of a `url` entry; the user's own options override them. */
  options?: GoogLeNetOptions;
  /** Preprocessing the weights were trained and published with. */
  preprocessing?: WeightsPreprocessing;
  /** Class names in logit order, or `'imagenet'` for the 1000 ImageNet classes shipped in `assets/`. */
  categories?: 'imagenet' | string[];
  /** Published accuracy. */
  metrics?: WeightsMetrics;
  /** Parameters of the inference model (no auxiliary heads). */
  params?: number;
  /** Multiply-accumulates of one 224×224 image, in billions. */
  gmacs?: number;
  /** Where the weights and figures come from. */
  source?: string;
}

/** torchvision's ImageNet evaluation preprocessing: resize 256 (bilinear), centre crop 224, ImageNet mean/std. */
export const IMAGENET_PREPROCESSING: Readonly<WeightsPreprocessing> = Object.freeze({
  resize: 256,
  crop: 224,
  mean: [...IMAGENET_MEAN],
  std: [...IMAGENET_STD],
  interpolation: 'bilinear' as const,
});

/** The built-in entries. The official URL and hash are exactly as torchvision publishes them. */
export const WEIGHTS: readonly Readonly<WeightsEntry>[] = Object.freeze([
  {
    name: 'imagenet',
    aliases: ['torchvision/IMAGENET1K_V1'],
    description: "torchvision's official GoogLeNet, ImageNet-1K (IMAGENET1K_V1)",
    url: 'https://download.pytorch.org/models/googlenet-1378be20.pth',
    sha256: '1378be20',
    options: { preset: 'torchvision', numClasses: 1000, transformInput: true, auxLogits: false },
    preprocessing: IMAGENET_PREPROCESSING,
    categories: 'imagenet',
    metrics: { acc1: 69.778, acc5: 89.53, dataset: 'ImageNet-1K val, 1 crop (resize 256, crop 224)' },
    params: 6_624_904,
    gmacs: 1.5,
    source: 'torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1 (https://github.com/pytorch/vision/tree/main/references/classification)',
  },
  {
    name: 'fashion-mnist',
    description: 'the Fashion-MNIST model trained by this project (shipped in models/fashion-mnist, no download)',
    modelDir: 'models/fashion-mnist',
    source: 'googlenet train --dataset fashion-mnist (see models/fashion-mnist/run.json)',
  },
]);

const userEntries: WeightsEntry[] = [];

/** Every entry: the built-in ones, then the user's (a user entry with a built-in name replaces it). */
export function weightsEntries(): WeightsEntry[] {
  const names = new Set(userEntries.map((e) => e.name));
  return [...WEIGHTS.filter((e) => !names.has(e.name)), ...userEntries].map((e) => ({ ...e }));
}

/** Every name and alias, in table order. */
export function weightsNames(): string[] {
  return weightsEntries().flatMap((e) => [e.name, ...(e.aliases ?? [])]);
}

/** The entry called `name` (or with that alias), or undefined. */
export function findWeights(name: string): WeightsEntry | undefined {
  return weightsEntries().find((e) => e.name === name || (e.aliases ?? []).includes(name));
}

export function unknownWeights(name: string, option = '--weights'): OptionError {
  return new OptionError(`${option}: unknown weights "${name}"; known names: ${weightsNames().join(', ')} (or a file, or an http(s) URL)`, {
    option,
  });
}

/** Adds (or, by name, replaces) a user entry after checking it. */
export function registerWeights(entry: WeightsEntry): void {
  const e = checkWeightsEntry(entry, 'registerWeights');
  const i = userEntries.findIndex((x) => x.name === e.name);
  if (i >= 0) userEntries.splice(i, 1, e);
  else userEntries.push(e);
}

/** Removes every user entry (tests; a program that reloads its registry file). */
export function clearUserWeights(): void {
  userEntries.length = 0;
}

/** `http://` or `https://`. */
export function isWeightsUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/** The file name at the end of a URL's path (no query), e.g. `googlenet-1378be20.pth`. */
export function urlFileName(url: string): string {
  const path = url.replace(/[?#].*$/, '');
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1));
}

/** The SHA-256 prefix in a file name `name-<hex>.ext` (torch.hub's convention; 8 to 64 digits), or null. */
export function hashPrefixOf(fileName: string): string | null {
  const m = /-([0-9a-f]{8,64})\.[A-Za-z0-9.]+$/.exec(fileName);
  return m ? m[1]! : null;
}

/**
 * A weight file whose SHA-256 does not start with the expected prefix: one error, the same in
 * Node and in the browser, naming the file, both hashes and where it came from; `after` says what
 * became of the bytes ("the downloaded file was deleted", "the file was not cached"). Its `file`
 * is `path` (Node: where the download went), else the URL.
 */
export function hashMismatch(file: string, expected: string, digest: string, from: string, after: string, path = from): WeightFormatError {
  return new WeightFormatError(`${file}: SHA-256 mismatch: expected ${expected}…, received ${digest} (from ${from}); ${after}`, {
    file: path,
  });
}

/** The URL to download from: the mirror (a folder URL) with the same file name, or the origin. */
export function mirroredUrl(url: string, mirror: string | undefined): string {
  if (!mirror) return url;
  return (mirror.endsWith('/') ? mirror : `${mirror}/`) + encodeURIComponent(urlFileName(url));
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_./-]*$/;

/** Checks one entry (from the API or a JSON file) and returns a copy; `where` names the source in errors. */
function checkWeightsEntry(x: unknown, where: string): WeightsEntry {
  const bad = (what: string): OptionError => new OptionError(`${where}: ${what}`, { option: 'weights' });
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw bad(`expected a weights entry object, received ${JSON.stringify(x)}`);
  const e = x as Record<string, unknown>;
  if (typeof e['name'] !== 'string' || !NAME.test(e['name']))
    throw bad(`"name" must be a name like "my-weights", received ${JSON.stringify(e['name'])}`);
  const name = e['name'];
  const aliases = e['aliases'] ?? [];
  if (!Array.isArray(aliases) || !aliases.every((a) => typeof a === 'string' && NAME.test(a)))
    throw bad(`${name}: "aliases" must be an array of names, received ${JSON.stringify(aliases)}`);
  const hasUrl = typeof e['url'] === 'string';
  const hasDir = typeof e['modelDir'] === 'string';
  if (hasUrl === hasDir) throw bad(`${name}: give exactly one of "url" (an http(s) URL) and "modelDir"`);
  if (hasUrl && !isWeightsUrl(e['url'] as string))
    throw bad(`${name}: "url" must start with http:// or https://, received ${JSON.stringify(e['url'])}`);
  if (e['sha256'] !== undefined && (typeof e['sha256'] !== 'string' || !/^[0-9a-f]{8,64}$/.test(e['sha256'])))
    throw bad(`${name}: "sha256" must be 8 to 64 lower-case hex digits, received ${JSON.stringify(e['sha256'])}`);
  if (e['options'] !== undefined && (typeof e['options'] !== 'object' || e['options'] === null || Array.isArray(e['options'])))
    throw bad(`${name}: "options" must be an object of GoogLeNet options`);
  const cats = e['categories'];
  if (cats !== undefined && cats !== 'imagenet' && !(Array.isArray(cats) && cats.every((c) => typeof c === 'string')))
    throw bad(`${name}: "categories" must be "imagenet" or an array of class names`);
  if (e['description'] !== undefined && typeof e['description'] !== 'string') throw bad(`${name}: "description" must be a string`);
  return {
    ...(e as unknown as WeightsEntry),
    aliases: [...(aliases as string[])],
    description: (e['description'] as string | undefined) ?? name,
  };
}

/**
 * Parses a registry file: a JSON array of entries, or `{ "weights": [ … ] }`.
 * @throws OptionError naming the file and the entry.
 */
export function parseWeightsRegistry(text: string, file: string): WeightsEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new OptionError(`${file}: not valid JSON (${(err as Error).message})`, { option: 'registry', file });
  }
  const list = Array.isArray(doc) ? doc : (doc as { weights?: unknown } | null)?.weights;
  if (!Array.isArray(list))
    throw new OptionError(`${file}: expected a JSON array of weights entries or { "weights": [ … ] }`, { option: 'registry', file });
  return list.map((x, i) => checkWeightsEntry(x, `${file}: entry ${i}`));
}
