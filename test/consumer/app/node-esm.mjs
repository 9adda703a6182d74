// A Node app that depends on googlenet-ts (ES modules): the shipped model classifies a picture,
// and a fresh network takes one training step; googlenet-ts/advanced sees the engine the main
// entry installed (one copy of the package's modules). Prints one JSON line for test/consumer/.
import { GoogLeNet, createTrainStep, load, tensor } from 'googlenet-ts';
import { getDefaultEngine } from 'googlenet-ts/advanced';

const net = await load({ weights: 'fashion-mnist' });
const [top] = await net.classify('sample.png', 10);

const model = new GoogLeNet({ preset: 'cifar', numClasses: 10, inChannels: 1, inputSize: 28, width: 0.125 }, { seed: 1 });
const trainer = createTrainStep(model, { optimizer: { type: 'adam', lr: 2e-3 } });
const n = 4;
const x = tensor(
  [n, 1, 28, 28],
  Float32Array.from({ length: n * 28 * 28 }, (_, i) => Math.sin(i)),
);
const { loss, correct } = await trainer.step(x, Int32Array.from([0, 1, 2, 3]));
console.log(JSON.stringify({ top, step: { loss, correct }, engine: getDefaultEngine().name }));
