/**
 * Shared CLI plumbing: option parsers that name the flag in their errors, model loading from
 * flags, JSON output on stdout (logs on stderr), and one-line error reporting.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { availableParallelism } from 'node:os';
import { OPTION_CHECKS, parseOptionText, type Check } from '../advanced.js';
import {
  type Device,
  getLimits,
  GoogLeNetError,
  limitEnvName,
  load,
  NODE_DEVICES,
  type NodeClassifier,
  OptionError,
  type Preset,
  PRESETS,
  selectDevice,
} from '../index.js';

/**
 * A commander parser for a flag checked by `check` (a declaration's, or one of `OPTION_CHECKS`):
 * bad text is one line naming the flag, what it expects and what it received.
 */
export function checkedOption<T>(flag: string, check: Check<T>): (v: string) => T {
  return (v) => {
    const r = parseOptionText(check, v);
    if ('expected' in r) throw new InvalidArgumentError(`${flag} expects ${r.expected}, received "${v}"`);
    return r.value;
  };
}

export function intOption(flag: string, min = 1, max = Number.MAX_SAFE_INTEGER, why = ''): (v: string) => number {
  const bounded = max < Number.MAX_SAFE_INTEGER ? `an integer in [${min}, ${max}]${why ? ` (${why})` : ''}` : undefined;
  return checkedOption(flag, OPTION_CHECKS.int(min, max, bounded));
}

/** `--threads`: at most twice the cores (ONNX Runtime crashes or hangs with thousands). */
export const threadsOption = (flag = '--threads'): ((v: string) => number) =>
  intOption(flag, 1, 2 * availableParallelism(), 'at most twice the cores');

/** `--workers`: at most four per core (each is a thread with its own heap). */
export const workersOption = (flag = '--workers'): ((v: string) => number) =>
  intOption(flag, 0, 4 * availableParallelism(), 'at most four per core');

/** `--resize`: an image side, at most the maxResize limit. */
export const resizeOption = (flag = '--resize'): ((v: string) => number) =>
  intOption(flag, 1, getLimits().maxResize, `the maxResize limit; raise it with ${limitEnvName('maxResize')}`);

export function floatOption(flag: string, min = 0, max = Infinity): (v: string) => number {
  return checkedOption(flag, OPTION_CHECKS.num({ ge: min, le: max }, `a number in [${min}, ${max}]`));
}

/** `--num-classes`: at most the maxNumClasses limit (checked before the classifier is allocated). */
export const numClassesOption = (flag: string): ((v: string) => number) =>
  intOption(flag, 1, getLimits().maxNumClasses, `the maxNumClasses limit; raise it with ${limitEnvName('maxNumClasses')}`);

export function channelsOption(flag: string): (v: string) => 1 | 3 {
  return checkedOption(flag, OPTION_CHECKS.oneOf([1, 3] as const, '1 or 3'));
}

/** `--device`: one of the Node devices (see `runtime/device.ts`). */
export const deviceOption: (v: string) => Device = checkedOption('--device', OPTION_CHECKS.oneOf(NODE_DEVICES));

export const DEVICE_HELP_LINE = `where the model runs: ${NODE_DEVICES.join(', ')} (default cpu; auto: CUDA, else a GPU's WebGPU, else the CPU)`;

/**
 * Checks `--device` before any work (a missing GPU driver or CUDA provider is one line and exit 1
 * here, not a failure at the first image) and says on stderr which device runs, when it is not
 * the default CPU. Returns the create options that put a model there.
 */
export async function deviceFromFlags(device: Device | undefined): Promise<{ device?: Device }> {
  if (device === undefined || device === 'cpu') return {};
  const c = await selectDevice(device);
  const why = device === 'auto' && c.skipped.length ? ` (auto; skipped ${c.skipped.join('; ')})` : device === 'auto' ? ' (auto)' : '';
  log(`device: ${c.device}${why}`);
  return { device: c.device };
}

export const presetOption: (v: string) => Preset = checkedOption('--preset', OPTION_CHECKS.oneOf(PRESETS));

/** Flags that pick a model: a model directory, or a weight file with its architecture. */
export interface ModelFlags {
  model?: string;
  weights?: string;
  preset?: Preset;
  numClasses?: number;
  transformInput?: boolean;
  aux?: boolean;
  threads?: number;
  device?: Device;
}

/** The help of `--weights` wherever it is taken. */
export const WEIGHTS_HELP =
  'named weights (`googlenet weights list`: imagenet, fashion-mnist, …), an http(s) URL (downloaded once into the cache), or a torchvision state dict file (.pth or .safetensors)';

export function addModelFlags(cmd: Command): Command {
  return cmd
    .option('--model <dir>', 'a model directory (config.json + model.safetensors)')
    .option('--weights <name|url|file>', WEIGHTS_HELP)
    .option(
      '--preset <name>',
      `architecture for --weights: ${PRESETS.join(', ')} (default: the named weights', else torchvision)`,
      presetOption,
    )
    .option(
      '--num-classes <n>',
      "classes of the --weights model (default: the named weights', else 1000)",
      numClassesOption('--num-classes'),
    )
    .option('--transform-input', "torchvision's transform_input (default: the named weights'; imagenet turns it on)")
    .option('--no-transform-input', 'turn transform_input off even for named weights that use it')
    .option('--aux', 'build the auxiliary classifiers and load them from the --weights file', false)
    .option('--threads <n>', 'ONNX Runtime threads (default: all cores)', threadsOption())
    .option('--device <name>', DEVICE_HELP_LINE, deviceOption);
}

/** Download options of the CLI: a progress bar on a terminal, plain lines otherwise (always on stderr). */
export const CLI_DOWNLOAD = { progress: 'auto' } as const;

export async function loadFromFlags(f: ModelFlags): Promise<NodeClassifier> {
  if (f.model && f.weights) throw new OptionError('--model and --weights: give one of them, not both', { option: '--model' });
  const create = { ...(f.threads !== undefined ? { threads: f.threads } : {}), ...(await deviceFromFlags(f.device)) };
  if (f.model) return load(f.model, create);
  if (f.weights) {
    return load(
      {
        weights: f.weights,
        ...(f.preset !== undefined ? { preset: f.preset } : {}),
        ...(f.numClasses !== undefined ? { numClasses: f.numClasses } : {}),
        ...(f.transformInput !== undefined ? { transformInput: f.transformInput } : {}),
        auxLogits: !!f.aux,
        download: CLI_DOWNLOAD,
      },
      create,
    );
  }
  throw new OptionError('no model: pass --model DIR, --weights NAME (e.g. imagenet), or --weights FILE with --preset and --num-classes', {
    option: '--model',
  });
}

/** Prints one JSON document on stdout (the only thing on stdout with --json). */
export function printJson(x: unknown): void {
  process.stdout.write(JSON.stringify(x, null, 2) + '\n');
}

/** Progress and logs go to stderr so that stdout stays machine-readable. */
export function log(msg: string): void {
  process.stderr.write(msg + '\n');
}

/**
 * A closed stdout (`googlenet predict … | head -1`) ends the command quietly, as Unix tools do:
 * exit 0 once the reader has what it wanted, never an EPIPE stack trace.
 */
export function quietOnClosedStdout(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(stream === process.stdout ? 0 : 1);
      throw e;
    });
  }
}

/** Runs a command body; user errors become one line on stderr and exit code 1. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      const verbose = process.argv.includes('--verbose');
      const err = e as Error;
      const known = e instanceof GoogLeNetError;
      process.stderr.write(`googlenet: ${known ? '' : 'error: '}${err.message.split('\n')[0]}\n`);
      if (verbose && err.stack) process.stderr.write(err.stack + '\n');
      process.exitCode = 1;
    }
  };
}
