/**
 * The `data` namespace of `googlenet-ts` (Node): datasets by name, the transforms and the loader
 * that training and evaluation use, and the official downloads, chosen name by name. The formats
 * themselves (IDX, CIFAR binaries, image folders) stay behind `openDataset`. `docs/API.md`
 * describes each name; where each module lives is in CONTRIBUTING.md's layout map.
 */
export { Rng } from '../rng.js';
export { DATASET_NAMES, DATASET_STATS, MemoryDataset, SubsetDataset, type DatasetName, type DatasetInfo, type Sample } from './core.js';
export { openDataset, type OpenDatasetOptions } from './dataset-node.js';
export { listClassFolders, resolveFolderSplit } from './folder-node.js';
export { TransformPipeline, resolveTransformConfig, type TransformConfig, type TransformOptions } from './transforms.js';
export { DataLoader } from './loader-node.js';
export type { Batch, DataLoaderOptions } from './loader.js';
export { download, DOWNLOAD_NAMES, type DownloadName, type DownloadOptions, type DownloadResult } from './download-node.js';
