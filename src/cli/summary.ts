/** `googlenet summary`: the torchinfo-style table, and the naive-vs-reduced arithmetic. */
import type { Command } from 'commander';
import { action, channelsOption, floatOption, intOption, numClassesOption, presetOption, printJson } from './common.js';
import {
  buildGoogLeNet,
  compareNaive,
  formatNaive,
  formatSummary,
  gapVersusDense,
  type Preset,
  resolveConfig,
  summarize,
} from '../index.js';

interface Flags {
  preset: Preset;
  aux: boolean;
  numClasses?: number;
  inChannels?: number;
  inputSize?: number;
  width?: number;
  json: boolean;
  compareNaive: boolean;
}

export function register(program: Command): void {
  program
    .command('summary')
    .description('print layers, output shapes, parameters and multiply-adds (torchinfo style)')
    .option('--preset <name>', 'paper, bn, torchvision or cifar', presetOption, 'torchvision')
    .option('--aux', 'include the auxiliary classifiers (training graph)', false)
    .option('--num-classes <n>', 'classes', numClassesOption('--num-classes'))
    .option('--in-channels <c>', '1 or 3', channelsOption('--in-channels'))
    .option('--input-size <s>', 'square input size', intOption('--input-size'))
    .option('--width <w>', 'width multiplier', floatOption('--width', 0.01, 4))
    .option('--compare-naive', 'per Inception module: naive vs 1×1-reduced parameters and MACs', false)
    .option('--json', 'print one JSON object (params, macs, layers)', false)
    .action(
      action((f: Flags) => {
        const cfg = resolveConfig({
          preset: f.preset,
          auxLogits: f.aux,
          ...(f.numClasses !== undefined ? { numClasses: f.numClasses } : {}),
          ...(f.inChannels !== undefined ? { inChannels: f.inChannels } : {}),
          ...(f.inputSize !== undefined ? { inputSize: f.inputSize } : {}),
          ...(f.width !== undefined ? { width: f.width } : {}),
        });
        const g = buildGoogLeNet(cfg, { mode: f.aux ? 'train' : 'eval' });
        const s = summarize(g, cfg.preset);
        if (f.compareNaive) {
          const rows = compareNaive(cfg, g);
          if (f.json) printJson({ preset: cfg.preset, modules: rows, gapVersusDense: gapVersusDense() });
          else process.stdout.write(formatNaive(rows) + '\n');
          return;
        }
        if (f.json) printJson({ ...s, config: cfg });
        else process.stdout.write(formatSummary(s) + '\n');
      }),
    );
}
