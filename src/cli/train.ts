/** `googlenet train`: flags → `TrainOptions` → `train()` (src/train/train-node.ts). */
import { InvalidArgumentError, type Command } from 'commander';
import {
  action,
  ARCH_HELP,
  archOption,
  DEVICE_HELP_LINE,
  deviceFromFlags,
  deviceOption,
  floatOption,
  intOption,
  log,
  numClassesOption,
  presetOption,
  printJson,
  threadsOption,
  workersOption,
} from './common.js';
import { data, KEEP, OPTIMIZERS, PRESETS, SCHEDULES, train, type TrainOptions, type TrainResult } from '../index.js';

/** A parser for a flag that takes one of `choices`; the message names the flag and the value. */
export function choiceOption<T extends string>(flag: string, choices: readonly T[]): (v: string) => T {
  return (v) => {
    if (!(choices as readonly string[]).includes(v))
      throw new InvalidArgumentError(`${flag} expects one of ${choices.join(', ')}, received "${v}"`);
    return v as T;
  };
}

/** A parser for a strictly positive number (`--lr 0` is refused with the flag's name). */
export function positiveOption(flag: string, max = Infinity): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!(v.trim() !== '' && Number.isFinite(n) && n > 0 && n <= max)) {
      throw new InvalidArgumentError(`${flag} expects a positive number${max < Infinity ? ` ≤ ${max}` : ''}, received "${v}"`);
    }
    return n;
  };
}

export const datasetOption = choiceOption<data.DatasetName>('--dataset', data.DATASET_NAMES);

/** Flags as commander parses them: the library's options, plus the CLI's own output switches. */
type Flags = TrainOptions & { progress?: 'auto' | 'tty' | 'plain' | 'none'; json: boolean };

/** Flags as given (undefined = not given, so the library's defaults and `--resume` apply). */
function toOptions(f: Flags): TrainOptions {
  const { json: _json, progress: _progress, inChannels, flip, ...rest } = f;
  const o: Record<string, unknown> = { ...rest };
  if (inChannels !== undefined) o.inChannels = inChannels;
  if (flip === false) o.flip = false;
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o as unknown as TrainOptions;
}

/**
 * Runs `fn` with an AbortSignal that SIGINT or SIGTERM aborts (the run stops after the current
 * step with a checkpoint); a second signal exits at once, keeping the last checkpoint.
 */
async function withStopSignals<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stop.signal.aborted) {
      process.stderr.write(`\n${sig} again: exiting now; the last checkpoint is kept\n`);
      process.exit(130);
    }
    process.stderr.write(
      `${process.stderr.isTTY ? '\n' : ''}${sig}: stopping after this step and saving a checkpoint (send it again to exit at once)\n`,
    );
    stop.abort(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The data and the run folder. */
function dataFlags(cmd: Command): Command {
  return cmd
    .requiredOption('--dataset <name>', data.DATASET_NAMES.join(', '), datasetOption)
    .option(
      '--data <dir>',
      "dataset folder (not needed for fashion-mnist-subset, nor fashion-mnist when Debian's dataset-fashion-mnist is installed)",
    )
    .option('--val-data <dir>', 'folder datasets: a separate validation folder')
    .requiredOption('--out <dir>', 'run folder (a model directory once an epoch is done)')
    .option('--resume', 'continue the run in --out from its checkpoint (only --epochs, --threads, --device, --workers may change)');
}

/** The architecture, and fine-tuning from other weights. */
function modelFlags(cmd: Command): Command {
  return cmd
    .option('--arch <name>', `${ARCH_HELP} (default googlenet)`, archOption)
    .option('--preset <name>', `GoogLeNet preset: ${PRESETS.join(', ')} (default cifar)`, presetOption)
    .option('--width <w>', 'width multiplier on every hidden channel count (default 1)', floatOption('--width', 0.01, 4))
    .option(
      '--aux',
      'train the auxiliary classifiers too (GoogLeNet: loss + 0.3 × (aux1 + aux2); Inception v3: loss + 0.4 × aux, 299² inputs)',
    )
    .option('--num-classes <n>', "override the dataset's class count", numClassesOption('--num-classes'))
    .option(
      '--in-channels <c>',
      "1 or 3 (default: the dataset's; other channels train on converted images, with a warning; not with --from)",
      intOption('--in-channels'),
    )
    .option('--input-size <s>', "override the input size (default: the dataset's image size, else 224)", intOption('--input-size', 8))
    .option('--dropout <p>', "dropout before the classifier (default: the preset's)", floatOption('--dropout', 0, 0.99))
    .option(
      '--from <model>',
      'fine-tune: start from a model directory, torchvision weights (.pth/.safetensors), an http(s) URL or named weights (imagenet); the classifier is replaced',
    )
    .option('--from-arch <name>', "architecture of a --from weight file (default: the named weights', else googlenet)", archOption)
    .option(
      '--from-preset <name>',
      "GoogLeNet preset of a --from weight file (default: the named weights', else torchvision)",
      presetOption,
    )
    .option(
      '--from-num-classes <n>',
      "classes of a --from weight file (default: the named weights', else 1000)",
      numClassesOption('--from-num-classes'),
    )
    .option('--from-transform-input', "a --from weight file uses torchvision's transform_input (its official ImageNet weights do)")
    .option('--freeze-backbone', 'with --from: train only the classifier head(s)');
}

/** Epochs, optimizer, schedule, losses and weight averaging. */
function optimizationFlags(cmd: Command): Command {
  return cmd
    .option('--epochs <n>', 'passes over the training set (default 10)', intOption('--epochs'))
    .option('--batch-size <n>', 'images per step (default 100)', intOption('--batch-size'))
    .option('--lr <lr>', 'peak learning rate (default 0.0002 for adam, 0.01 for sgd)', positiveOption('--lr'))
    .option('--optimizer <name>', `${OPTIMIZERS.join(', ')} (default adam)`, choiceOption('--optimizer', OPTIMIZERS))
    .option('--momentum <m>', 'SGD momentum (default 0.9)', floatOption('--momentum', 0, 0.999))
    .option('--nesterov', 'SGD: Nesterov momentum')
    .option('--weight-decay <wd>', 'L2 weight decay (default 0 adam, 0.01 adamw, 5e-4 sgd)', floatOption('--weight-decay', 0))
    .option(
      '--schedule <name>',
      `learning-rate schedule: ${SCHEDULES.join(', ')} (default constant; step = ×0.96 every 8 epochs)`,
      choiceOption('--schedule', SCHEDULES),
    )
    .option('--warmup-epochs <e>', 'linear warm-up epochs (default 0)', floatOption('--warmup-epochs', 0))
    .option('--gamma <g>', 'step schedule factor (default 0.96)', positiveOption('--gamma', 1))
    .option('--decay-every <e>', 'step schedule period in epochs (default 8)', positiveOption('--decay-every'))
    .option('--min-lr <lr>', 'cosine schedule: final learning rate (default 0)', floatOption('--min-lr', 0))
    .option(
      '--aux-weight <w>',
      "weight of each auxiliary loss (default: the architecture's, 0.3 GoogLeNet, 0.4 Inception v3)",
      floatOption('--aux-weight', 0),
    )
    .option('--label-smoothing <e>', 'label smoothing (default 0)', floatOption('--label-smoothing', 0, 0.99))
    .option('--clip-grad-norm <n>', 'clip the global gradient norm (default off)', positiveOption('--clip-grad-norm'))
    .option(
      '--ema <decay>',
      'Polyak averaging of the weights with this decay per step, e.g. 0.999 (default off)',
      positiveOption('--ema', 0.999999),
    )
    .option('--ema-every <k>', 'fold the weights into the average every k steps (default 1)', intOption('--ema-every'));
}

/** Augmentation and the subsets trained and validated on. */
function augmentationFlags(cmd: Command): Command {
  return cmd
    .option('--padding <p>', 'random-crop zero padding (default 2 at ≤ 28 px, 4 at 32 px)', intOption('--padding', 0))
    .option('--no-flip', 'no random horizontal flips')
    .option('--inception-crop', "the paper's Inception crop (default for image folders)")
    .option('--photometric', 'photometric distortion (brightness, contrast, saturation)')
    .option('--limit-train <n>', 'train on a seeded random subset of N images', intOption('--limit-train'))
    .option('--limit-test <n>', 'validate on the first N test images', intOption('--limit-test'))
    .option('--val-holdout <n>', 'validate on N held-out training images instead of the test split', intOption('--val-holdout', 0));
}

/** What is kept, seeds, threads, logging. */
function runFlags(cmd: Command): Command {
  return cmd
    .option('--keep <which>', "the run folder's model: best (by validation top-1) or last (default best)", choiceOption('--keep', KEEP))
    .option('--seed <s>', 'seed of initialization, data order, augmentation and dropout (default 0)', intOption('--seed', 0))
    .option('--workers <n>', 'data-loader worker threads (default 1)', workersOption())
    .option('--threads <n>', 'ONNX Runtime threads (default: all cores)', threadsOption())
    .option('--device <name>', DEVICE_HELP_LINE, deviceOption)
    .option('--log-every <n>', 'a metrics line (and a plain progress line) every N steps', intOption('--log-every'))
    .option('--max-steps <n>', 'stop after N steps of this invocation, with a checkpoint', intOption('--max-steps'))
    .option(
      '--progress <mode>',
      'auto, tty, plain or none (default auto: a bar on a terminal)',
      choiceOption('--progress', ['auto', 'tty', 'plain', 'none'] as const),
    );
}

/** Prints a run's outcome: one JSON object with --json, else the files and the accuracy. */
function report(f: Flags, r: TrainResult): void {
  const pct = (v: number): string => `${(100 * v).toFixed(2)}%`;
  if (r.status === 'interrupted' && f.maxSteps === undefined) process.exitCode = 130;
  if (f.json) {
    printJson({
      out: r.out,
      status: r.status,
      epoch: r.position.epoch,
      step: r.position.step,
      top1: r.metrics?.top1 ?? null,
      top5: r.metrics?.top5 ?? null,
      best: r.best,
      last: r.last,
      seconds: r.seconds,
      files: r.files,
    });
    return;
  }
  if (r.status === 'interrupted') {
    log(
      `stopped at epoch ${r.position.epoch + 1}, step ${r.position.step}; continue with: googlenet train --dataset ${f.dataset} --out ${f.out} --resume`,
    );
    return;
  }
  const m = r.metrics;
  process.stdout.write(`run folder (a model directory): ${r.out}\n`);
  if (m) {
    process.stdout.write(
      `validation top-1 ${pct(m.top1)}, top-5 ${pct(m.top5)} (${m.n} images)${r.best ? `, best at epoch ${r.best.epoch + 1}` : ''}\n`,
    );
    process.stdout.write(`Accuracy of Test Data: ${pct(m.top1)}\n`);
  }
  process.stdout.write(`curves: ${r.files.plots.filter((p) => p.endsWith('.png')).join(', ')}\n`);
  if (r.files.confusion.length) process.stdout.write(`confusion matrix: ${r.files.confusion.join(', ')}\n`);
  process.stdout.write(`metrics: ${r.files.metrics}\ncheckpoint: ${r.files.checkpoint}\n`);
}

export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description('train GoogLeNet or Inception v3 on a dataset; the --out folder gets checkpoints, metrics, curves and the model itself');
  runFlags(augmentationFlags(optimizationFlags(modelFlags(dataFlags(cmd)))))
    .option('--json', 'print one JSON object with the result on stdout', false)
    .action(
      action(async (f: Flags) => {
        const o = { ...toOptions(f), ...(await deviceFromFlags(f.device)) };
        const r = await withStopSignals((signal) => train(o, { progress: f.progress ?? 'auto', signal }));
        report(f, r);
      }),
    );
}
