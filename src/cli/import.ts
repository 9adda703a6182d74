/** `googlenet import`: a torchvision state dict (.pth or .safetensors) → a model directory. */
import type { Command } from 'commander';
import { action, log, numClassesOption, presetOption } from './common.js';
import { imagenetClasses, importWeights, type Preset, saveModelDir } from '../index.js';

interface Flags {
  preset: Preset;
  numClasses: number;
  aux: boolean;
  transformInput: boolean;
  out: string;
}

export function register(program: Command): void {
  program
    .command('import')
    .description('import torchvision weights (.pth zip+pickle, read without running code, or .safetensors) into a model directory')
    .argument('<weights>', 'state dict file, e.g. googlenet-1378be20.pth')
    .requiredOption('-o, --out <dir>', 'model directory to write')
    .option('--preset <name>', 'architecture', presetOption, 'torchvision')
    .option('--num-classes <n>', 'classes', numClassesOption('--num-classes'), 1000)
    .option('--aux', 'keep the auxiliary classifiers from the file', false)
    .option('--transform-input', "torchvision's transform_input (true for its official ImageNet weights)", false)
    .action(
      action((file: string, f: Flags) => {
        const model = importWeights(file, {
          preset: f.preset,
          numClasses: f.numClasses,
          auxLogits: f.aux,
          transformInput: f.transformInput,
        });
        saveModelDir(model, f.out, { labels: f.numClasses === 1000 ? imagenetClasses() : null, source: file });
        log(`imported ${file} → ${f.out} (${model.numParams().toLocaleString('en-US')} parameters, preset ${f.preset})`);
      }),
    );
}
