/**
 * Entry point of a DataLoader worker thread: rebuilds the dataset and the transform pipeline from
 * the pool's `init`, then answers batch tasks with `prepareBatch` (the pixels travel back as a
 * transferred buffer, not a copy). Started by `loader-node.ts`; not imported by anything else.
 */
import { answerTasks } from '../thread-pool-node.js';
import { prepareBatch, type PreparedBatch, type WorkerInit, type WorkerTask } from './batch.js';
import { datasetFromSource } from './dataset-node.js';
import { TransformPipeline } from './transforms.js';

answerTasks<WorkerInit, WorkerTask, PreparedBatch>('loader-worker-node.ts', (init, warn) => {
  const dataset = datasetFromSource(init.source, { onWarning: warn });
  const pipeline = new TransformPipeline(init.transform);
  return async (task) => {
    const { x, y } = await prepareBatch(dataset, pipeline, task.indices, task.seed, task.epoch);
    return { result: { x, y }, transfer: [x.buffer as ArrayBuffer, y.buffer as ArrayBuffer] };
  };
});
