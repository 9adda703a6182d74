/** The Node.js engine: onnxruntime-node's CPU execution provider on all cores. */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { ortEngine, setDefaultEngine, type Engine, type OrtModule } from './engine.js';

export const nodeEngine: Engine = ortEngine(ort as unknown as OrtModule, {
  name: 'onnxruntime-node (cpu)',
  defaultThreads: Number(process.env.GOOGLENET_THREADS) || availableParallelism(),
  maxThreads: 2 * availableParallelism(),
});
setDefaultEngine(nodeEngine);
