/**
 * The data layer: dataset → transforms → loader (see each module's header).
 *
 * - `../rng.ts`     seeded xoshiro128** generator with serializable state (shared with models and train)
 * - `core.ts`       the `Dataset` contract, dataset names, per-dataset statistics and class names
 * - `dataset-node.ts` `openDataset`: a dataset split by name, from files
 * - `idx.ts`, `cifar.ts` the file formats, bytes in (`idx-node.ts`, `cifar-node.ts`: from files); `folder-node.ts` image folders
 * - `augment.ts`    seeded augmentations (random crop, flip, Inception crop, colour jitter)
 * - `transforms.ts` `TransformConfig` and `TransformPipeline` (the pixel operations are in `../image/`)
 * - `loader.ts`     `DataLoader`: seeded order, batching, prefetching (`loader-node.ts`: worker threads)
 * - `download-node.ts``download`: official files with checksums
 */
export * from '../rng.js';
export * from './dataset-node.js';
export * from './idx.js';
export * from './idx-node.js';
export * from './cifar.js';
export * from './cifar-node.js';
export * from './folder-node.js';
export * from './augment.js';
export * from './transforms.js';
export { crop, pad, hflip, centerCrop, toChannels, roundHalfEven, type Box, type Size } from '../image/image.js';
export { normalize, normalizeInto } from '../image/normalize.js';
export { resize, resizeShorter } from '../image/resize.js';
export * from './loader-node.js';
export { prepareBatch, type PreparedBatch } from './batch.js';
export * from './download-node.js';
