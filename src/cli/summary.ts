/** `googlenet summary`: the torchinfo-style table, and the naive-vs-reduced arithmetic. */
import type { Command } from 'commander';
import {
  action,
  ARCH_HELP,
  archFromFlags,
  archOption,
  channelsOption,
  floatOption,
  intOption,
  numClassesOption,
  poolingOption,
  presetOption,
  printJson,
  topFromFlags,
} from './common.js';
import {
  type Arch,
  buildNetwork,
  compareNaive,
  describeArch,
  formatNaive,
  formatSummary,
  gapVersusDense,
  OptionError,
  type Pooling,
  type Preset,
  resolveConfig,
  summarize,
} from '../index.js';

interface Flags {
  arch?: Arch;
  preset?: Preset;
  aux: boolean;
  includeTop: boolean;
  pooling?: Pooling;
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
    .option('--arch <name>', `${ARCH_HELP} (default googlenet)`, archOption)
    .option('--preset <name>', 'GoogLeNet: paper, bn, torchvision or cifar (default torchvision)', presetOption)
    .option('--aux', 'include the auxiliary classifiers (training graph)', false)
    .option('--no-include-top', "Keras' include_top=False: without the classifier")
    .option('--pooling <p>', "without the top: avg, max or none (Keras' pooling; default none)", poolingOption)
    .option('--num-classes <n>', 'classes', numClassesOption('--num-classes'))
    .option('--in-channels <c>', '1 or 3', channelsOption('--in-channels'))
    .option('--input-size <s>', 'square input size (default 224; 299 for inception_v3)', intOption('--input-size'))
    .option('--width <w>', 'width multiplier', floatOption('--width', 0.01, 4))
    .option('--compare-naive', 'per Inception module of GoogLeNet: naive vs 1×1-reduced parameters and MACs', false)
    .option('--json', 'print one JSON object (params, macs, layers)', false)
    .action(
      action((f: Flags) => {
        const cfg = resolveConfig({
          ...archFromFlags(f),
          ...topFromFlags(f),
          auxLogits: f.aux,
          ...(f.numClasses !== undefined ? { numClasses: f.numClasses } : {}),
          ...(f.inChannels !== undefined ? { inChannels: f.inChannels } : {}),
          ...(f.inputSize !== undefined ? { inputSize: f.inputSize } : {}),
          ...(f.width !== undefined ? { width: f.width } : {}),
        });
        const g = buildNetwork(cfg, { mode: f.aux ? 'train' : 'eval' });
        const s = summarize(g, describeArch(cfg));
        if (f.compareNaive) {
          if (cfg.arch !== 'googlenet')
            throw new OptionError(
              "--compare-naive: the naive-module arithmetic is GoogLeNet's (Inception v1); leave out --arch inception_v3",
              {
                option: '--compare-naive',
              },
            );
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
