/**
 * An image folder in ImageNet's (and torchvision `ImageFolder`'s) layout: one sub-folder per
 * class, class index = position of the sub-folder name in sorted order, images (JPEG, PNG, WebP)
 * anywhere below it. Only the file list is held in memory; each image is decoded when it is asked
 * for, normally inside a loader worker, by `image/decode-node.ts` (the one decoder: PIL's
 * `Image.open(path).convert('RGB')`, which is what torchvision's `ImageFolder` gives).
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import { DatasetFormatError, ImageError, OptionError } from '../errors.js';
import { decodeImageFile, readImageSize } from '../image/decode-node.js';
import { DATASET_STATS, type Dataset, type DatasetInfo, type DatasetSource, type Sample } from './core.js';

/** File extensions read by default (case-insensitive). */
const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp'];

/** What to do with a file that cannot be decoded: skip it with a warning, or stop with an error. */
export type OnUnreadable = 'skip' | 'error';

/** The hint every "cannot decode" error ends with (the CLI flag that maps to `onUnreadable: 'skip'`). */
const SKIP_HINT = 'pass --on-unreadable skip to skip unreadable files with a warning';

/** Sorted listing of an image folder. */
export interface FolderListing {
  /** Class names = sub-folder names, sorted by code point (like torchvision). */
  classes: string[];
  /** Absolute image paths, grouped by class, sorted within a class. */
  files: string[];
  /** Class index of each file. */
  labels: Int32Array;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function walkImages(dir: string, exts: ReadonlySet<string>, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) await walkImages(p, exts, out);
    else if ((e.isFile() || e.isSymbolicLink()) && exts.has(extname(e.name).toLowerCase())) out.push(p);
  }
}

/** The sorted names of the class sub-folders of `root` (hidden folders ignored). */
export async function listClassFolders(root: string): Promise<string[]> {
  let st;
  try {
    st = await stat(root);
  } catch {
    throw new DatasetFormatError(`folder dataset: ${root} does not exist (--data)`);
  }
  if (!st.isDirectory())
    throw new DatasetFormatError(`folder dataset: ${root} is not a folder (--data expects a folder with one sub-folder per class)`);
  const entries = await readdir(root, { withFileTypes: true });
  const names: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    // Class folders may be symbolic links (common for ImageNet copies).
    if (e.isDirectory() || (e.isSymbolicLink() && (await isDir(join(root, e.name))))) names.push(e.name);
  }
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Lists `root/<class>/**\/*.{jpg,jpeg,png,webp}`.
 * @param classes the class list to use (e.g. the training folder's, when listing a validation
 *   folder); sub-folders not in it are an error. Default: the sub-folders of `root`.
 * @param extensions file extensions to read; default `IMAGE_EXTENSIONS`.
 * @param onWarning receives a line for each class folder without images; default `console.warn`.
 * @throws DatasetFormatError when the folder is missing, has no class sub-folders or no images.
 */
export async function listImageFolder(
  root: string,
  options: { classes?: readonly string[]; extensions?: readonly string[]; onWarning?: (message: string) => void } = {},
): Promise<FolderListing> {
  const exts = new Set((options.extensions ?? IMAGE_EXTENSIONS).map((e) => e.toLowerCase()));
  const found = await listClassFolders(root);
  const extList = [...exts].join(', ');
  if (found.length === 0) {
    throw new DatasetFormatError(
      `folder dataset ${root}: no class sub-folders (expected one sub-folder per class, e.g. ${join(root, 'cat', '0001.jpg')})`,
    );
  }
  const classes = options.classes ? [...options.classes] : found;
  const index = new Map(classes.map((c, i) => [c, i]));
  for (const c of found) {
    if (!index.has(c)) {
      throw new DatasetFormatError(
        `folder dataset ${root}: class folder "${c}" is not one of the ${classes.length} training classes (${classes.slice(0, 5).join(', ')}${classes.length > 5 ? ', …' : ''})`,
      );
    }
  }
  const files: string[] = [];
  const labels: number[] = [];
  const warn = options.onWarning ?? ((m: string) => console.warn(m));
  for (const c of found) {
    const before = files.length;
    await walkImages(join(root, c), exts, files);
    if (files.length === before) warn(`warning: folder dataset ${root}: class folder "${c}" has no images (${extList})`);
    for (let i = before; i < files.length; i++) labels.push(index.get(c) as number);
  }
  if (files.length === 0) {
    throw new DatasetFormatError(
      `folder dataset ${root}: no images found in ${found.length} class sub-folder${found.length === 1 ? '' : 's'} (looked for ${extList})`,
    );
  }
  return { classes, files, labels: Int32Array.from(labels) };
}

/**
 * The error for an image `decode-node.ts` could not read: its message (which names the file and
 * why) and how to skip such files; anything but an `ImageError` is a bug and is rethrown.
 */
function unreadable(err: unknown, file: string): DatasetFormatError {
  if (!(err instanceof ImageError)) throw err;
  return new DatasetFormatError(`${err.message}; ${SKIP_HINT}`, { file, cause: err });
}

/** Options of `FolderDataset`. */
export interface FolderDatasetOptions {
  /** Dataset name; default `'folder'`. */
  name?: string;
  /** Unreadable file: `'error'` (default) stops with a message naming it; `'skip'` warns once and serves the next readable sample instead. */
  onUnreadable?: OnUnreadable;
  /** Receives warnings (skipped files); default `console.warn`. */
  onWarning?: (message: string) => void;
  /** Normalization statistics; default ImageNet's. */
  mean?: number[];
  std?: number[];
}

/**
 * A lazily decoded image folder. `get(i)` decodes file `i`; with `onUnreadable: 'skip'` an
 * undecodable file is reported once and replaced by the next readable file (i+1, i+2, … wrapping),
 * so batches keep their size; use `verifyFolder` first to drop such files up front instead.
 */
export class FolderDataset implements Dataset {
  readonly name: string;
  readonly numClasses: number;
  readonly classes: string[];
  readonly channels = 3 as const;
  readonly height = null;
  readonly width = null;
  readonly mean: number[];
  readonly std: number[];
  readonly root: string;
  readonly files: string[];
  readonly labels: Int32Array;
  readonly onUnreadable: OnUnreadable;
  private readonly warn: (message: string) => void;
  private readonly bad = new Set<number>();

  constructor(root: string, listing: FolderListing, options: FolderDatasetOptions = {}) {
    this.name = options.name ?? 'folder';
    this.root = root;
    this.classes = [...listing.classes];
    this.numClasses = listing.classes.length;
    this.files = listing.files;
    this.labels = listing.labels;
    this.mean = [...(options.mean ?? DATASET_STATS.imagenet.mean)];
    this.std = [...(options.std ?? DATASET_STATS.imagenet.std)];
    this.onUnreadable = options.onUnreadable ?? 'error';
    this.warn = options.onWarning ?? ((m: string) => console.warn(m));
  }

  get size(): number {
    return this.files.length;
  }

  async get(i: number): Promise<Sample> {
    if (!Number.isInteger(i) || i < 0 || i >= this.size)
      throw new OptionError(`${this.name}: sample index ${i} is out of range [0, ${this.size})`, { option: 'index' });
    for (let k = 0; k < this.size; k++) {
      const j = (i + k) % this.size;
      if (this.bad.has(j)) continue;
      const file = this.files[j] as string;
      try {
        const image = await decodeImageFile(file, { channels: 3 });
        return { image, label: this.labels[j] as number };
      } catch (e) {
        const error = unreadable(e, file);
        if (this.onUnreadable === 'error') throw error;
        this.bad.add(j);
        this.warn(`warning: skipping ${(e as ImageError).message}`);
      }
    }
    throw new DatasetFormatError(`folder dataset ${this.root}: none of its ${this.size} images can be decoded`);
  }

  info(): DatasetInfo {
    return {
      name: this.name,
      numClasses: this.numClasses,
      classes: [...this.classes],
      channels: 3,
      height: null,
      width: null,
      mean: [...this.mean],
      std: [...this.std],
    };
  }

  source(): DatasetSource {
    return { kind: 'folder', info: this.info(), root: this.root, files: this.files, labels: this.labels, onUnreadable: this.onUnreadable };
  }

  /** The path of file `i` relative to the dataset root. */
  relativePath(i: number): string {
    return relative(this.root, this.files[i] as string);
  }
}

/**
 * Reads the header of every file (`readImageSize`: no full decode) and returns the listing
 * without the unreadable ones — each reported through `onWarning` — or, with `onUnreadable:
 * 'error'`, stops at the first.
 */
async function verifyFolder(
  listing: FolderListing,
  onUnreadable: OnUnreadable,
  onWarning: (message: string) => void = (m) => console.warn(m),
): Promise<FolderListing> {
  const keep: number[] = [];
  const concurrency = 8;
  const ok = new Uint8Array(listing.files.length);
  let next = 0;
  const errors: { i: number; error: unknown }[] = [];
  async function run(): Promise<void> {
    while (next < listing.files.length) {
      const i = next++;
      try {
        await readImageSize(listing.files[i] as string);
        ok[i] = 1;
      } catch (error) {
        errors.push({ i, error });
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, run));
  errors.sort((a, b) => a.i - b.i);
  const reports = errors.map((e) => unreadable(e.error, listing.files[e.i] as string)); // rethrows a bug
  const first = reports[0];
  if (first && onUnreadable === 'error') throw first;
  for (const e of errors) onWarning(`warning: skipping ${(e.error as ImageError).message}`);
  for (let i = 0; i < listing.files.length; i++) if (ok[i]) keep.push(i);
  if (keep.length === 0) throw new DatasetFormatError(`folder dataset: none of its ${listing.files.length} images can be decoded`);
  return {
    classes: listing.classes,
    files: keep.map((i) => listing.files[i] as string),
    labels: Int32Array.from(keep, (i) => listing.labels[i] as number),
  };
}

/** Options of `openImageFolder`. */
export interface OpenFolderOptions extends FolderDatasetOptions {
  /** Class list to index labels by (the training folder's when opening a validation folder); default: `root`'s sub-folders. */
  classes?: readonly string[];
  /** Extensions to read; default `IMAGE_EXTENSIONS`. */
  extensions?: readonly string[];
  /** Read every file's header when opening and drop (skip) or stop at (error) unreadable ones; default false. */
  verify?: boolean;
}

/** Lists `root` and returns a lazily decoded `FolderDataset`. */
export async function openImageFolder(root: string, options: OpenFolderOptions = {}): Promise<FolderDataset> {
  const warn = options.onWarning ?? ((m: string) => console.warn(m));
  const listOpts: { classes?: readonly string[]; extensions?: readonly string[]; onWarning: (message: string) => void } = {
    onWarning: warn,
  };
  if (options.classes) listOpts.classes = options.classes;
  if (options.extensions) listOpts.extensions = options.extensions;
  let listing = await listImageFolder(root, listOpts);
  if (options.verify) listing = await verifyFolder(listing, options.onUnreadable ?? 'error', warn);
  return new FolderDataset(root, listing, { ...options, onWarning: warn });
}

/**
 * For `--data DIR`: `DIR/train` + `DIR/val` (or `validation`, `test`) when both exist, else `DIR`
 * is the training folder. Returns the folder of `split`, or null when there is no such split.
 */
export async function resolveFolderSplit(
  data: string,
  split: 'train' | 'test',
  valData?: string,
): Promise<{ root: string; trainRoot: string | null } | null> {
  let trainRoot: string = data;
  let valRoot: string | null = null;
  if (await isDir(join(data, 'train'))) {
    for (const v of ['val', 'validation', 'test']) {
      if (await isDir(join(data, v))) {
        trainRoot = join(data, 'train');
        valRoot = join(data, v);
        break;
      }
    }
  }
  if (valData) valRoot = valData;
  if (split === 'train') return { root: trainRoot, trainRoot };
  return valRoot ? { root: valRoot, trainRoot } : null;
}
