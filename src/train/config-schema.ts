/**
 * The one schema of the training config a checkpoint stores (`TrainConfig`): every field is
 * checked before a resumed run uses it, so that a damaged or hand-edited checkpoint is a
 * message naming the field ("config.optimizer.lr is null, expected a positive number") instead
 * of "Cannot read properties of null".
 */
import { DATASET_NAMES } from '../data/core.js';
import { WeightFormatError } from '../errors.js';
import { resolveConfig } from '../models/config.js';
import { KEEP, OPTIMIZERS, type TrainConfig } from './config.js';
import { SCHEDULES } from './schedule.js';

type Check = [test: (v: unknown) => boolean, expected: string];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const OBJ: Check = [isObject, 'an object'];
const STR: Check = [(v) => typeof v === 'string', 'a string'];
const BOOL: Check = [(v) => typeof v === 'boolean', 'a boolean'];
const int = (min: number): Check => [(v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= min, `an integer ≥ ${min}`];
const num = (min: number, max = Infinity, open = false): Check => [
  (v) => typeof v === 'number' && Number.isFinite(v) && (open ? v > min : v >= min) && v <= max,
  `a number in ${open ? '(' : '['}${min}, ${max}]`,
];
const oneOf = (xs: readonly (string | number)[]): Check => [(v) => xs.includes(v as string), `one of ${xs.join(', ')}`];
const nullable = ([t, e]: Check): Check => [(v) => v === null || t(v), `${e} or null`];
const numbers: Check = [(v) => Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x)), 'an array of numbers'];
const strings: Check = [(v) => Array.isArray(v) && v.every((x) => typeof x === 'string'), 'an array of strings'];

/** Every field of `TrainConfig`, by path; a path under a null parent is skipped. */
const SCHEMA: [path: string, check: Check][] = [
  ['dataset', OBJ],
  ['dataset.name', oneOf(DATASET_NAMES)],
  ['dataset.data', nullable(STR)],
  ['dataset.valData', nullable(STR)],
  ['dataset.info', OBJ],
  ['dataset.info.numClasses', int(1)],
  ['dataset.info.classes', strings],
  ['dataset.info.channels', oneOf([1, 3])],
  ['dataset.info.mean', numbers],
  ['dataset.info.std', numbers],
  ['dataset.limitTrain', nullable(int(1))],
  ['dataset.limitTest', nullable(int(1))],
  ['dataset.valHoldout', int(0)],
  ['dataset.trainSize', int(0)],
  ['dataset.valSize', int(0)],
  ['model', OBJ],
  ['from', nullable(OBJ)],
  ['freezeBackbone', BOOL],
  ['optimizer', OBJ],
  ['optimizer.type', oneOf(OPTIMIZERS)],
  ['optimizer.lr', num(0, Infinity, true)],
  ['optimizer.weightDecay', num(0)],
  ['schedule', OBJ],
  ['schedule.type', oneOf(SCHEDULES)],
  ['schedule.warmupEpochs', num(0)],
  ['schedule.gamma', num(0, 1, true)],
  ['schedule.decayEvery', num(0, Infinity, true)],
  ['schedule.minLr', num(0)],
  ['auxWeight', num(0)],
  ['labelSmoothing', num(0, 0.99)],
  ['clipGradNorm', nullable(num(0, Infinity, true))],
  ['ema', nullable(OBJ)],
  ['ema.decay', num(0, 1, true)],
  ['ema.every', int(1)],
  ['epochs', int(1)],
  ['batchSize', int(1)],
  ['stepsPerEpoch', int(1)],
  ['seed', int(0)],
  ['keep', oneOf(KEEP)],
  ['transform', OBJ],
  ['transform.train', OBJ],
  ['transform.eval', OBJ],
  ['workers', int(0)],
  ['threads', nullable(int(1))],
  ['logEvery', int(1)],
];

const SGD: [string, Check][] = [
  ['optimizer.momentum', num(0, 1)],
  ['optimizer.nesterov', BOOL],
];

function at(root: unknown, path: string): { parentNull: boolean; value: unknown } {
  let v: unknown = root;
  for (const k of path.split('.')) {
    if (v === null) return { parentNull: true, value: undefined };
    v = (v as Record<string, unknown>)[k];
  }
  return { parentNull: false, value: v };
}

/**
 * Validates the training config stored in checkpoint `file`.
 * @throws WeightFormatError naming the first bad field, what it holds and what was expected.
 */
export function checkTrainConfig(raw: unknown, file: string): TrainConfig {
  if (!isObject(raw))
    throw new WeightFormatError(`${file}: the checkpoint's config is ${JSON.stringify(raw)}, expected an object`, { file });
  if (raw.version !== 1)
    throw new WeightFormatError(`${file}: training config version ${JSON.stringify(raw.version)} is not one this googlenet-ts reads (1)`, {
      file,
    });
  const sgd = isObject(raw.optimizer) && raw.optimizer.type === 'sgd';
  for (const [path, [test, expected]] of [...SCHEMA, ...(sgd ? SGD : [])]) {
    const { parentNull, value } = at(raw, path);
    if (parentNull || test(value)) continue;
    throw new WeightFormatError(`${file}: config.${path} is ${JSON.stringify(value) ?? 'missing'}, expected ${expected}`, { file });
  }
  try {
    resolveConfig(raw.model as object);
  } catch (e) {
    throw new WeightFormatError(`${file}: config.model: ${(e as Error).message}`, { file, cause: e });
  }
  return raw as unknown as TrainConfig;
}
