/**
 * The trainer's options (what a user sets; every field optional but the dataset and the output
 * folder, each declared once in `options.ts`) and the resolved config (every field filled in,
 * JSON, stored in each checkpoint so that `--resume` needs no other flags; `config-schema.ts`).
 *
 * The dataset decides the number of classes, the input channels, the input size (fixed-size
 * datasets: their image size) and the normalization unless they are set explicitly; `--from`
 * decides the architecture and the normalization (the pretrained model's).
 */
import { checkOption, shown } from '../checks.js';
import { OptionError } from '../errors.js';
import {
  TRAIN_DEFAULTS,
  TRAIN_OPTIONS,
  type OptionSpec,
  type TrainOptionName,
  type TrainOptions,
  type TrainOptionValue,
} from './options.js';

export { KEEP, OPTIMIZERS, TRAIN_DEFAULTS, TRAIN_OPTIONS, type OptimizerName, type TrainOptionName, type TrainOptions } from './options.js';
export type { TrainConfig } from './config-schema.js';

/**
 * How messages name an option: by its field (`batchSize`, the library's way) or by its flag
 * (`--batch-size`, the CLI's); `usage` is how to give it (`from`, `--from MODEL`).
 */
export interface OptionNaming {
  name(option: TrainOptionName): string;
  usage(option: TrainOptionName): string;
}

/** Names options by their field. */
const BY_FIELD: OptionNaming = { name: (k) => k, usage: (k) => k };

/** Names options by their flag. */
export const BY_FLAG: OptionNaming = {
  name: (k) => TRAIN_OPTIONS[k].flag.split(' ')[0]!.replace(/^--no-/, '--'),
  usage: (k) => TRAIN_OPTIONS[k].flag.replace(/^--no-/, '--').replace(/<(\w+)>/, (_, m: string) => m.toUpperCase()),
};

const SPECS = TRAIN_OPTIONS as Record<TrainOptionName, OptionSpec<unknown>>;

/**
 * Validates user options: every field against its declaration, then the options that need
 * others. Each message names the option, by its field (`batchSize`) or with `names: 'flags'` by
 * its flag (`--batch-size`, the CLI's), and the value received.
 * @throws OptionError
 */
export function validateTrainOptions(o: TrainOptions, options: { names?: 'fields' | 'flags' } = {}): void {
  const naming = options.names === 'flags' ? BY_FLAG : BY_FIELD;
  const name = naming.name;
  if (typeof o !== 'object' || o === null)
    throw new OptionError(`options: expected an object of training options, received ${shown(o)}`, { option: 'options' });
  for (const key of Object.keys(o)) {
    if (!(key in SPECS)) throw new OptionError(`${key}: not a training option (known: ${Object.keys(SPECS).join(', ')})`, { option: key });
  }
  for (const [key, s] of Object.entries(SPECS) as [TrainOptionName, OptionSpec<unknown>][]) {
    const v = o[key];
    if (v === undefined && !s.required) continue;
    checkOption(s.check, v, name(key));
  }
  const fail = (key: TrainOptionName, expected: string, got: unknown): never => {
    throw new OptionError(`${name(key)}: expected ${expected}, received ${shown(got)}`, { option: name(key) });
  };
  if (o.freezeBackbone && !o.from) fail('freezeBackbone', `a pretrained model to freeze (${naming.usage('from')})`, true);
  if (o.nesterov && o.optimizer !== 'sgd') fail('nesterov', `${name('optimizer')} sgd`, o.optimizer ?? 'adam');
}

type Specs = typeof TRAIN_OPTIONS;
/** The options kept at the top level of the config: given, else the default, else null (a default that depends on the run is filled in by `resolveTrainConfig`). */
type StoredValues = {
  [K in keyof Specs as Specs[K] extends { stored: string } ? K : never]: Specs[K] extends { default: unknown }
    ? TrainOptionValue<K>
    : TrainOptionValue<K> | null;
};

/** The values of the options a run's config keeps at its top level (`stored` in their declaration). */
export function storedOptions(o: TrainOptions): StoredValues {
  const defaults = TRAIN_DEFAULTS as Partial<Record<TrainOptionName, unknown>>;
  const entries = (Object.entries(SPECS) as [TrainOptionName, OptionSpec<unknown>][]).filter(([, s]) => s.stored);
  return Object.fromEntries(entries.map(([k]) => [k, o[k] ?? defaults[k] ?? null])) as StoredValues;
}

/** The options a resumed run may change (`resume` in their declaration); it keeps the checkpoint's value of every other. */
export function resumableOptions(): TrainOptionName[] {
  return (Object.keys(SPECS) as TrainOptionName[]).filter((k) => SPECS[k].resume);
}

/** The default zero padding of the random crop for a fixed-size input. */
export function defaultPadding(inputSize: number): number {
  return inputSize >= 32 ? 4 : 2;
}
