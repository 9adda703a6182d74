/**
 * Datasets by name: `openDataset({ name, data, split })` → a `Dataset` (see `core.ts` for the
 * contract). IDX and CIFAR splits are held in memory (shared with loader workers); image folders
 * are listed and decoded lazily.
 *
 * | name                   | files read                                                   | channels | mean / std |
 * |------------------------|--------------------------------------------------------------|----------|------------|
 * | `fashion-mnist`        | IDX in `data` (default: Debian's /usr/share/datasets/fashion-mnist) | 1 | 0.2860 / 0.3530 |
 * | `fashion-mnist-subset` | the embedded IDX subset in `assets/fashion-mnist-subset/`    | 1        | as above   |
 * | `mnist`                | IDX in `data`                                                | 1        | 0.1307 / 0.3081 |
 * | `cifar10`              | `data_batch_{1..5}.bin`, `test_batch.bin` in `data`          | 3        | CIFAR-10's |
 * | `cifar100`             | `train.bin`, `test.bin` in `data`                            | 3        | CIFAR-100's |
 * | `folder`               | `data/<class>/*.{jpg,png,webp}` (or `data/train` + `data/val`) | 3      | ImageNet's |
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OptionError } from '../errors.js';
import { loadCifar } from './cifar-node.js';
import { DATASET_NAMES, MemoryDataset, idxDatasetInfo, SubsetDataset, type Dataset, type DatasetName, type DatasetSource } from './core.js';
import { FolderDataset, listClassFolders, openImageFolder, resolveFolderSplit, type OnUnreadable } from './folder-node.js';
import { findIdxFiles, loadIdxDataset } from './idx-node.js';

export * from './core.js';

/** Where Debian's `dataset-fashion-mnist` package installs the four gzipped IDX files. */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The embedded Fashion-MNIST subset shipped in the package (`assets/fashion-mnist-subset/`), resolved from this module's location (works from `src/data/` and `dist/data/`). */
export function embeddedSubsetDir(): string {
  return fileURLToPath(new URL('../../assets/fashion-mnist-subset/', import.meta.url));
}

/** Options of `openDataset`. */
export interface OpenDatasetOptions {
  /** Which dataset (`--dataset`); any other string is rejected with a message listing the names. */
  name: DatasetName | (string & Record<never, never>);
  /** Its folder (`--data`). Required except for `fashion-mnist` (default: Debian's folder) and `fashion-mnist-subset` (embedded). */
  data?: string;
  /** For `folder`: a separate validation folder (`--val-data`); default `data/val` when `data/train` and `data/val` exist. */
  valData?: string;
  /** Which split; default `'train'`. */
  split?: 'train' | 'test';
  /** For `folder`: what to do with a file that cannot be decoded; default `'error'` (the message names the file and how to skip). */
  onUnreadable?: OnUnreadable;
  /** For `folder`: read every file's header when opening (drops or stops at unreadable files up front); default false. */
  verify?: boolean;
  /** Receives warnings (skipped files, empty class folders); default `console.warn`. */
  onWarning?: (message: string) => void;
  /**
   * For `folder`: the class list labels are indices into (a model's classes, e.g. `imagenetWnids()`
   * for ImageNet's WordNet-id folders); default the training folder's sorted sub-folders.
   */
  classes?: readonly string[];
}

function isDatasetName(s: string): s is DatasetName {
  return (DATASET_NAMES as readonly string[]).includes(s);
}

/**
 * Opens a dataset split by name.
 * @throws OptionError for an unknown name, split or missing `--data`; DatasetFormatError for missing or malformed files.
 */
export async function openDataset(options: OpenDatasetOptions): Promise<Dataset> {
  const name: string = options.name;
  if (!isDatasetName(name)) {
    throw new OptionError(`unknown dataset "${name}" (--dataset); expected one of ${DATASET_NAMES.join(', ')}`, { option: 'name' });
  }
  const split = options.split ?? 'train';
  if (split !== 'train' && split !== 'test')
    throw new OptionError(`unknown split "${String(split)}"; expected train or test`, { option: 'split' });
  const needData = (hint: string): string => {
    if (!options.data) throw new OptionError(`dataset ${name} needs --data DIR (${hint})`, { option: 'data' });
    return options.data;
  };
  switch (name) {
    case 'fashion-mnist':
    case 'mnist': {
      let dir: string;
      if (name === 'fashion-mnist' && !options.data) {
        if (!existsSync(DEBIAN_FASHION_MNIST_DIR)) {
          throw new OptionError(
            `dataset fashion-mnist: no --data DIR given and ${DEBIAN_FASHION_MNIST_DIR} does not exist; ` +
              `install Debian's dataset-fashion-mnist, run \`googlenet download fashion-mnist --dir DIR\`, or use --dataset fashion-mnist-subset`,
            { option: 'data' },
          );
        }
        dir = DEBIAN_FASHION_MNIST_DIR;
      } else {
        dir = needData(`a folder with the four IDX files; \`googlenet download ${name} --dir DIR\` fetches them`);
      }
      return loadIdxDataset({ ...findIdxFiles(dir, split, name), info: idxDatasetInfo(name) });
    }
    case 'fashion-mnist-subset': {
      const dir = options.data ?? embeddedSubsetDir();
      return loadIdxDataset({ ...findIdxFiles(dir, split, name), info: idxDatasetInfo(name) });
    }
    case 'cifar10':
    case 'cifar100':
      return loadCifar(name, needData(`the folder of the binary version; \`googlenet download ${name} --dir DIR\` fetches it`), split);
    case 'folder': {
      const data = options.data ?? options.valData;
      if (!data)
        throw new OptionError('dataset folder needs --data DIR (a folder with one sub-folder of images per class)', { option: 'data' });
      const where = await resolveFolderSplit(data, split, options.valData);
      if (!where) {
        throw new OptionError(
          `folder dataset ${data} has no validation split: pass --val-data DIR, or use ${data}/train and ${data}/val sub-folders`,
          { option: 'valData' },
        );
      }
      let classes: readonly string[] | undefined = options.classes;
      if (
        !classes &&
        split === 'test' &&
        where.trainRoot &&
        where.trainRoot !== where.root &&
        options.data &&
        existsSync(where.trainRoot)
      ) {
        classes = await listClassFolders(where.trainRoot);
      }
      return openImageFolder(where.root, {
        ...(classes ? { classes } : {}),
        onUnreadable: options.onUnreadable ?? 'error',
        verify: options.verify ?? false,
        ...(options.onWarning ? { onWarning: options.onWarning } : {}),
      });
    }
  }
}

/** Rebuilds a dataset from `Dataset.source()` (inside a loader worker). */
export function datasetFromSource(source: DatasetSource, options: { onWarning?: (message: string) => void } = {}): Dataset {
  switch (source.kind) {
    case 'memory': {
      const { info } = source;
      if (info.height === null || info.width === null)
        throw new OptionError(`${info.name}: an in-memory dataset needs a fixed height and width`, { option: 'info' });
      return new MemoryDataset({ ...info, height: info.height, width: info.width }, source.images, source.labels);
    }
    case 'folder':
      return new FolderDataset(
        source.root,
        { classes: source.info.classes, files: source.files, labels: source.labels },
        {
          name: source.info.name,
          onUnreadable: source.onUnreadable,
          mean: source.info.mean,
          std: source.info.std,
          ...(options.onWarning ? { onWarning: options.onWarning } : {}),
        },
      );
    case 'subset':
      return new SubsetDataset(datasetFromSource(source.parent, options), source.indices);
  }
}
