/**
 * Entry point of a DataLoader worker thread: rebuilds the dataset and the transform pipeline from
 * `workerData`, then answers batch tasks with `prepareBatch` (the pixels travel back as a
 * transferred buffer, not a copy). Started by `loader-node.ts`; not imported by anything else.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { prepareBatch, type WorkerInit, type WorkerReply, type WorkerTask } from './batch.js';
import { datasetFromSource } from './dataset-node.js';
import { TransformPipeline } from './transforms.js';
import { InternalError } from '../errors.js';

const port = parentPort;
if (!port) throw new InternalError('loader-worker-node.ts must be started as a worker thread by DataLoader');

const init = workerData as WorkerInit;
const reply = (m: WorkerReply, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
const dataset = datasetFromSource(init.source, { onWarning: (message) => reply({ type: 'warning', message }) });
const pipeline = new TransformPipeline(init.transform);

port.on('message', (task: WorkerTask) => {
  prepareBatch(dataset, pipeline, task.indices, task.seed, task.epoch).then(
    ({ x, y }) => reply({ type: 'result', id: task.id, x, y }, [x.buffer as ArrayBuffer, y.buffer as ArrayBuffer]),
    (e: unknown) => {
      const err = e instanceof Error ? e : new Error(String(e));
      reply({ type: 'error', id: task.id, name: err.name, message: err.message, ...(err.stack ? { stack: err.stack } : {}) });
    },
  );
});
