/**
 * The data layer: dataset → transforms → loader (see each module's header).
 *
 * - `../rng.ts`     seeded xoshiro128** generator with serializable state (shared with models and train)
 * - `dataset.ts`    `openDataset`, the `Dataset` contract, per-dataset statistics and class names
 * - `idx.ts`, `cifar.ts`, `folder.ts`  the file formats
 * - `transforms.ts` seeded image transforms and `TransformPipeline`
 * - `loader.ts`     `DataLoader`: seeded order, batching, worker-thread prefetching
 * - `download.ts`   `download`: official files with checksums
 */
export * from '../rng.js';
export * from './dataset.js';
export * from './idx.js';
export * from './cifar.js';
export * from './folder.js';
export * from './transforms.js';
export * from './loader.js';
export { prepareBatch, type PreparedBatch } from './batch.js';
export * from './download.js';
