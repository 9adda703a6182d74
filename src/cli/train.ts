/** `googlenet train`: flags → `TrainOptions` → `train()` (src/train/train-node.ts). */
import type { Command } from 'commander';
import {
  action,
  checkedOption,
  DEVICE_HELP_LINE,
  deviceFromFlags,
  deviceOption,
  log,
  numClassesOption,
  printJson,
  threadsOption,
  workersOption,
} from './common.js';
import { OPTION_CHECKS } from '../advanced.js';
import {
  data,
  train,
  TRAIN_OPTIONS,
  validateTrainOptions,
  type OptionSpec,
  type TrainOptionName,
  type TrainOptions,
  type TrainResult,
} from '../index.js';

/** A parser for a flag that takes one of `choices`; the message names the flag and the value. */
export function choiceOption<const T extends readonly string[]>(flag: string, choices: T): (v: string) => T[number] {
  return checkedOption(flag, OPTION_CHECKS.oneOf(choices));
}

export const datasetOption = choiceOption('--dataset', data.DATASET_NAMES);

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

/**
 * Flags whose parser or help is the CLI's own: limits that depend on this machine (cores) or on
 * the environment (`GOOGLENET_MAX_NUM_CLASSES`), and the devices Node has.
 */
const CLI_PARSERS: Partial<Record<TrainOptionName, (v: string) => unknown>> = {
  numClasses: numClassesOption('--num-classes'),
  fromNumClasses: numClassesOption('--from-num-classes'),
  workers: workersOption(),
  threads: threadsOption(),
  device: deviceOption,
};
const CLI_HELP: Partial<Record<TrainOptionName, string>> = { device: DEVICE_HELP_LINE };

/** A flag's help: the declaration's, with its default. */
function helpOf(k: TrainOptionName, s: OptionSpec<unknown>): string {
  const help = CLI_HELP[k] ?? s.help;
  if (CLI_HELP[k] || s.flag.startsWith('--no-') || typeof s.default === 'boolean') return help;
  if (s.default !== undefined) return `${help} (default ${String(s.default)})`;
  return s.defaultHelp ? `${help} (default: ${s.defaultHelp})` : help;
}

/** Every training option as a flag, from its declaration (`TRAIN_OPTIONS`). */
function optionFlags(cmd: Command): Command {
  for (const [k, s] of Object.entries(TRAIN_OPTIONS) as [TrainOptionName, OptionSpec<unknown>][]) {
    const flag = s.flag.split(' ')[0]!;
    const parse = CLI_PARSERS[k] ?? (s.flag.includes('<') ? checkedOption(flag, s.check) : undefined);
    if (!parse) cmd.option(s.flag, helpOf(k, s));
    else if (s.required) cmd.requiredOption(s.flag, helpOf(k, s), parse);
    else cmd.option(s.flag, helpOf(k, s), parse);
  }
  return cmd.option(
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
    .description('train GoogLeNet on a dataset; the --out folder gets checkpoints, metrics, curves and the model itself');
  optionFlags(cmd)
    .option('--json', 'print one JSON object with the result on stdout', false)
    .action(
      action(async (f: Flags) => {
        validateTrainOptions(toOptions(f), { names: 'flags' });
        const o = { ...toOptions(f), ...(await deviceFromFlags(f.device)) };
        const r = await withStopSignals((signal) => train(o, { progress: f.progress ?? 'auto', signal }));
        report(f, r);
      }),
    );
}
