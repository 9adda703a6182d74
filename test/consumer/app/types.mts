// Type-checked by test/consumer/ against the installed package's declarations (tsconfig.json).
import { GoogLeNet, createTrainStep, load, tensor, type Prediction } from 'googlenet-ts';
import { init, load as loadInBrowser, type BackendInfo } from 'googlenet-ts/browser';
import { getDefaultEngine, lowerToOnnx, type Engine } from 'googlenet-ts/advanced';

const net = await load({ weights: 'fashion-mnist' });
const top: Prediction[][] = await net.classify('sample.png', 5);
const trainer = createTrainStep(new GoogLeNet({ preset: 'cifar', numClasses: 10, inChannels: 1, inputSize: 28 }), {
  optimizer: { type: 'adam', lr: 2e-3 },
});
const { loss }: { loss: number } = await trainer.step(tensor([1, 1, 28, 28]), Int32Array.from([3]));
const backend: BackendInfo = await init({ wasmPaths: '/ort/' });
const inBrowser = await loadInBrowser('models/fashion-mnist/');
const engine: Engine = getDefaultEngine();
const tiny = new GoogLeNet({ preset: 'cifar', numClasses: 10 });
const onnx: Uint8Array = lowerToOnnx(tiny.graph('eval'), { mode: 'eval', weights: tiny.weights }).bytes;
export const results = [top, loss, backend.threads, await inBrowser.classify(new Blob([]), 3), engine.name, onnx.length];
