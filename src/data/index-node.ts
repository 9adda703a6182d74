/**
 * The data layer: dataset → transforms → loader (see each module's header).
 *
 * - `../rng.ts`     seeded xoshiro128** generator with serializable state (shared with models and train)
 * - `core.ts`       the `Dataset` contract, dataset names, per-dataset statistics and class names
 * - `dataset-node.ts` `openDataset`: a dataset split by name, from files
 * - `idx.ts`, `cifar.ts` the file formats, bytes in (`idx-node.ts`, `cifar-node.ts`: from files); `folder-node.ts` image folders
 * - `transforms.ts` seeded image transforms and `TransformPipeline`
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
export * from './transforms.js';
export * from './loader-node.js';
export { prepareBatch, type PreparedBatch } from './batch.js';
export * from './download-node.js';
