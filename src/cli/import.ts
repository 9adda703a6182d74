/** `googlenet import`: torchvision weights (a file, a URL or a registry name) → a model directory. */
import type { Command } from 'commander';
import {
  action,
  ARCH_HELP,
  archFromFlags,
  archOption,
  CLI_DOWNLOAD,
  intOption,
  log,
  numClassesOption,
  poolingOption,
  presetOption,
  topFromFlags,
} from './common.js';
import { type Arch, archLabel, loadModel, type Pooling, type Preset, saveModelDir } from '../index.js';

interface Flags {
  arch?: Arch;
  preset?: Preset;
  numClasses?: number;
  inputSize?: number;
  aux: boolean;
  includeTop: boolean;
  pooling?: Pooling;
  transformInput?: boolean;
  out: string;
}

export function register(program: Command): void {
  program
    .command('import')
    .description('import torchvision weights (.pth zip+pickle, read without running code, or .safetensors) into a model directory')
    .argument(
      '<weights>',
      'a state dict file (e.g. googlenet-1378be20.pth, inception_v3_google-0cc3c7bd.pth), an http(s) URL, or a name from `googlenet weights list`',
    )
    .requiredOption('-o, --out <dir>', 'model directory to write')
    .option('--arch <name>', `${ARCH_HELP} (default: the named weights', else googlenet)`, archOption)
    .option('--preset <name>', "GoogLeNet's preset (default: the named weights', else torchvision)", presetOption)
    .option('--num-classes <n>', "classes (default: the named weights', else 1000)", numClassesOption('--num-classes'))
    .option('--input-size <s>', 'square input size the model takes (default 224; 299 for inception_v3)', intOption('--input-size', 8))
    .option('--aux', 'keep the auxiliary classifiers from the file', false)
    .option('--no-include-top', "Keras' include_top=False: leave the classifier out (a feature extractor)")
    .option('--pooling <p>', "without the top: avg, max or none (Keras' pooling; default none)", poolingOption)
    .option('--transform-input', "torchvision's transform_input (default: the named weights'; imagenet and inception_v3 turn it on)")
    .option('--no-transform-input', 'turn transform_input off even for named weights that use it')
    .action(
      action(async (weights: string, f: Flags) => {
        const model = await loadModel({
          weights,
          ...archFromFlags(f),
          ...topFromFlags(f),
          ...(f.numClasses !== undefined ? { numClasses: f.numClasses } : {}),
          ...(f.inputSize !== undefined ? { inputSize: f.inputSize } : {}),
          ...(f.transformInput !== undefined ? { transformInput: f.transformInput } : {}),
          auxLogits: f.aux,
          download: { ...CLI_DOWNLOAD, option: 'import' },
        });
        saveModelDir(model, f.out, { labels: model.config.includeTop ? (model.labels ?? null) : null, source: weights });
        log(`imported ${weights} → ${f.out} (${model.numParams().toLocaleString('en-US')} parameters, ${archLabel(model.config)})`);
        await model.dispose();
      }),
    );
}
