/** `googlenet import`: torchvision weights (a file, a URL or a registry name) → a model directory. */
import type { Command } from 'commander';
import { action, CLI_DOWNLOAD, log, numClassesOption, presetOption } from './common.js';
import { describeArch, loadModel, type Preset, saveModelDir } from '../index.js';

interface Flags {
  preset?: Preset;
  numClasses?: number;
  aux: boolean;
  transformInput?: boolean;
  out: string;
}

export function register(program: Command): void {
  program
    .command('import')
    .description('import torchvision weights (.pth zip+pickle, read without running code, or .safetensors) into a model directory')
    .argument('<weights>', 'a state dict file (e.g. googlenet-1378be20.pth), an http(s) URL, or a name from `googlenet weights list`')
    .requiredOption('-o, --out <dir>', 'model directory to write')
    .option('--preset <name>', "architecture (default: the named weights', else torchvision)", presetOption)
    .option('--num-classes <n>', "classes (default: the named weights', else 1000)", numClassesOption('--num-classes'))
    .option('--aux', 'keep the auxiliary classifiers from the file', false)
    .option('--transform-input', "torchvision's transform_input (default: the named weights'; imagenet turns it on)")
    .option('--no-transform-input', 'turn transform_input off even for named weights that use it')
    .action(
      action(async (weights: string, f: Flags) => {
        const model = await loadModel({
          weights,
          ...(f.preset !== undefined ? { preset: f.preset } : {}),
          ...(f.numClasses !== undefined ? { numClasses: f.numClasses } : {}),
          ...(f.transformInput !== undefined ? { transformInput: f.transformInput } : {}),
          auxLogits: f.aux,
          download: { ...CLI_DOWNLOAD, option: 'import' },
        });
        saveModelDir(model, f.out, { labels: model.labels ?? null, source: weights });
        log(`imported ${weights} → ${f.out} (${model.numParams().toLocaleString('en-US')} parameters, ${describeArch(model.config)})`);
        await model.dispose();
      }),
    );
}
