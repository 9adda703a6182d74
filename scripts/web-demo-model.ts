/**
 * Writes a small random-weight GoogLeNet as a model directory, for the demo page when no trained
 * model exists yet (and for the browser tests): CIFAR stem at 28×28, greyscale, the 10
 * Fashion-MNIST classes, width 0.25. Its config.json says it is untrained, and the page says so.
 *
 *   node --import tsx scripts/web-demo-model.ts OUT_DIR [--seed N] [--width W] [--channels 1|3] [--size S]
 */
import { GoogLeNet } from '../src/models/model.js';
import '../src/runtime/engine-node.js';
import { saveModelDir } from '../src/weights/model-dir-node.js';

const FASHION = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

const args = process.argv.slice(2);
const out = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
if (!out) {
  process.stderr.write('usage: web-demo-model.ts OUT_DIR [--seed N] [--width W] [--channels 1|3] [--size S]\n');
  process.exit(2);
}
const channels = flag('channels', 1) as 1 | 3;
const size = flag('size', 28);
const model = new GoogLeNet(
  { preset: 'cifar', numClasses: 10, inChannels: channels, inputSize: size, width: flag('width', 0.25) },
  { seed: flag('seed', 0) },
);
model.labels = FASHION;
model.preprocess =
  channels === 1
    ? { resize: size, crop: size, mean: [0.286], std: [0.353] }
    : { resize: size, crop: size, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
saveModelDir(model, out, { source: 'random initialization: an untrained demo model (scripts/web-demo-model.ts)' });
process.stderr.write(`wrote ${out}: untrained, ${model.numParams().toLocaleString('en-US')} parameters\n`);
