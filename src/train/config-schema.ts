/**
 * The training config a checkpoint stores (`TrainConfig`), as one schema: its fields are checked
 * with the same checks as the options they come from (`TRAIN_OPTIONS`), and its type is the
 * schema's, so the stored config, its type and its check cannot drift apart. Every field is checked
 * before a resumed run uses it, so that a damaged or hand-edited checkpoint is a message naming
 * the field ("config.optimizer.lr is null, expected a positive number") instead of "Cannot read
 * properties of null".
 */
import * as v from 'valibot';
import { bool, firstIssue, int, num, oneOf, shown, type Check } from '../checks.js';
import type { DatasetInfo } from '../data/core.js';
import type { TransformConfig } from '../data/transforms.js';
import { WeightFormatError } from '../errors.js';
import { resolveConfig, type GoogLeNetConfig } from '../models/config.js';
import { TRAIN_OPTIONS as O, type OptionSpec, type TrainOptionName } from './options.js';

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
/** An object checked elsewhere (the model's config by `resolveConfig`, transforms when they are built). */
const object = <T>(): Check<T> => v.custom<T>(isObject, 'an object');
const nullable = <T>(c: Check<T>): Check<T | null> => v.nullable(c) as Check<T | null>;

const DATASET_INFO = v.looseObject(
  {
    numClasses: int(1),
    classes: v.array(v.string('an array of strings'), 'an array of strings'),
    channels: oneOf([1, 3], '1 or 3'),
    mean: v.array(num(), 'an array of numbers'),
    std: v.array(num(), 'an array of numbers'),
  },
  'an object',
) as unknown as Check<DatasetInfo>;

type Specs = typeof O;
type Stored = { [K in keyof Specs as Specs[K] extends { stored: string } ? K : never]: Specs[K] };
type StoredSchemas = {
  [K in keyof Stored]: Stored[K] extends { stored: 'nullable'; check: Check<infer T> }
    ? Check<T | null>
    : Stored[K] extends { check: Check<infer T> }
      ? Check<T>
      : never;
};

/** The options kept at the top level of the config (`stored` in their declaration), with their checks. */
const STORED = Object.fromEntries(
  Object.entries(O as Record<TrainOptionName, OptionSpec<unknown>>).flatMap(([k, s]) =>
    s.stored ? [[k, s.stored === 'nullable' ? nullable(s.check) : s.check]] : [],
  ),
) as StoredSchemas;

/** Everything a run needs, resolved (stored in every checkpoint). */
const TRAIN_CONFIG = v.object(
  {
    version: v.literal(1),
    dataset: v.object(
      {
        name: O.dataset.check,
        data: nullable(O.data.check),
        valData: nullable(O.valData.check),
        /** The training dataset's metadata (classes, channels, size, statistics). */
        info: DATASET_INFO,
        limitTrain: nullable(O.limitTrain.check),
        limitTest: nullable(O.limitTest.check),
        valHoldout: O.valHoldout.check,
        trainSize: int(0),
        valSize: int(0),
      },
      'an object',
    ),
    model: object<GoogLeNetConfig>(),
    from: v.nullable(
      v.object(
        { path: v.string('a string'), preset: O.fromPreset.check, numClasses: O.fromNumClasses.check, transformInput: bool },
        'an object',
      ),
    ),
    optimizer: v.variant(
      'type',
      [
        v.object({
          type: v.literal('sgd'),
          lr: O.lr.check,
          momentum: O.momentum.check,
          weightDecay: O.weightDecay.check,
          nesterov: O.nesterov.check,
        }),
        v.object({ type: oneOf(['adam', 'adamw'] as const), lr: O.lr.check, weightDecay: O.weightDecay.check }),
      ],
      'an object with type one of adam, adamw, sgd',
    ),
    schedule: v.object(
      {
        type: O.schedule.check,
        warmupEpochs: O.warmupEpochs.check,
        gamma: O.gamma.check,
        decayEvery: O.decayEvery.check,
        minLr: O.minLr.check,
      },
      'an object',
    ),
    ema: v.nullable(v.object({ decay: O.ema.check, every: O.emaEvery.check }, 'an object')),
    stepsPerEpoch: int(1),
    transform: v.object({ train: object<TransformConfig>(), eval: object<TransformConfig>() }, 'an object'),
    ...STORED,
  },
  'an object',
);

/** Everything a run needs, resolved (stored in every checkpoint so that `--resume` needs no other flags). */
export type TrainConfig = v.InferOutput<typeof TRAIN_CONFIG>;

/**
 * Validates the training config stored in checkpoint `file`.
 * @throws WeightFormatError naming the first bad field, what it holds and what was expected.
 */
export function checkTrainConfig(raw: unknown, file: string): TrainConfig {
  if (!isObject(raw)) throw new WeightFormatError(`${file}: the checkpoint's config is ${shown(raw)}, expected an object`, { file });
  if (raw.version !== 1)
    throw new WeightFormatError(`${file}: training config version ${shown(raw.version)} is not one this googlenet-ts reads (1)`, {
      file,
    });
  const issue = firstIssue(TRAIN_CONFIG, raw);
  if (issue) {
    const got = issue.received === undefined ? 'missing' : (JSON.stringify(issue.received) ?? shown(issue.received));
    throw new WeightFormatError(`${file}: config.${issue.path} is ${got}, expected ${issue.expected}`, { file });
  }
  try {
    resolveConfig(raw.model as object);
  } catch (e) {
    throw new WeightFormatError(`${file}: config.model: ${(e as Error).message}`, { file, cause: e });
  }
  return raw as unknown as TrainConfig;
}
