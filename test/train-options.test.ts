/**
 * One declaration per training option (src/train/options.ts): the library's check, the stored
 * config's check, the CLI flag and `--resume` all follow from it, so they cannot disagree. Each
 * test walks every declared option, so a new option is covered the moment it is declared.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command, type Option } from 'commander';
import '../src/runtime/engine-node.js';
import { register } from '../src/cli/train.js';
import { openDataset } from '../src/data/dataset-node.js';
import { OptionError, WeightFormatError } from '../src/errors.js';
import { checkTrainConfig } from '../src/train/config-schema.js';
import { TRAIN_OPTIONS, validateTrainOptions, type TrainOptionName, type TrainOptions } from '../src/train/config.js';
import { optionSpec } from '../src/train/options.js';
import { resolveTrainConfig, resumedConfig, selectSplits } from '../src/train/setup.js';

const NAMES = Object.keys(TRAIN_OPTIONS) as TrainOptionName[];
const base: TrainOptions = { dataset: 'fashion-mnist-subset', out: 'run' };
const flagOf = (k: TrainOptionName): string => optionSpec(k).flag.split(' ')[0]!;

/** What option `k` expects, in words: the message of its own check on a value no check accepts. */
function expectedOf(k: TrainOptionName): string {
  try {
    validateTrainOptions({ ...base, [k]: {} } as TrainOptions);
  } catch (e) {
    const m = /: expected (.*), received an object$/.exec((e as Error).message);
    if (m) return m[1]!;
  }
  throw new Error(`${k}: an object was accepted`);
}

test('the library checks every option and names its field; with names: flags, its flag', () => {
  for (const k of NAMES) {
    const bad = { ...base, [k]: {} } as TrainOptions;
    assert.throws(
      () => validateTrainOptions(bad),
      (e: OptionError) =>
        e instanceof OptionError && e.option === k && new RegExp(`^${k}: expected .+, received an object$`).test(e.message),
      k,
    );
    const flag = flagOf(k).replace(/^--no-/, '--');
    assert.throws(
      () => validateTrainOptions(bad, { names: 'flags' }),
      (e: OptionError) => e.option === flag && e.message.startsWith(`${flag}: expected`),
    );
  }
  assert.throws(() => validateTrainOptions({ ...base, labelSmothing: 0.1 } as TrainOptions), {
    message: /^labelSmothing: not a training option \(known: dataset, data,/,
  });
  assert.throws(() => validateTrainOptions({ out: 'run' } as TrainOptions), {
    message: /^dataset: expected one of fashion-mnist, .*, received undefined$/,
  });
  assert.throws(() => validateTrainOptions({ ...base, nesterov: true }), {
    message: /^nesterov: expected optimizer sgd, received "adam"$/,
  });
  assert.throws(() => validateTrainOptions({ ...base, nesterov: true }, { names: 'flags' }), {
    message: /^--nesterov: expected --optimizer sgd, received "adam"$/,
  });
});

test('every option is a flag of `googlenet train`, parsed with the same check as the library', () => {
  const program = new Command();
  register(program);
  const cmd = program.commands.find((c) => c.name() === 'train')!;
  const byFlag = new Map(cmd.options.map((o: Option) => [o.long, o]));
  for (const k of NAMES) {
    const flag = flagOf(k);
    const o = byFlag.get(flag);
    assert.ok(o, `${k}: no ${flag}`);
    assert.equal(o.mandatory, !!optionSpec(k).required, flag);
  }
  // At the edges of a range the CLI and the library agree (they used to differ: --label-smoothing
  // took 0.99 at most on the command line and 0.999 in the library, the checkpoint 0.99).
  const parse = (flag: string, text: string): unknown => byFlag.get(flag)!.parseArg!(text, undefined);
  assert.equal(parse('--label-smoothing', '0.995'), 0.995);
  validateTrainOptions({ ...base, labelSmoothing: 0.995 });
  assert.throws(() => parse('--label-smoothing', '1'), { message: '--label-smoothing expects a number in [0, 1), received "1"' });
  assert.throws(() => validateTrainOptions({ ...base, labelSmoothing: 1 }), {
    message: 'labelSmoothing: expected a number in [0, 1), received 1',
  });
  assert.equal(parse('--ema', '0.9999999'), 0.9999999);
  assert.throws(() => parse('--ema', '1'), { message: '--ema expects a decay in (0, 1), received "1"' });
  assert.equal(parse('--in-channels', '3'), 3);
  assert.throws(() => parse('--in-channels', '2'), { message: '--in-channels expects 1 or 3, received "2"' });
  assert.throws(() => parse('--epochs', ' '), { message: '--epochs expects an integer ≥ 1, received " "' });
});

test('the stored config is checked with each option’s own check, and --resume changes only what may change', async () => {
  const train = await openDataset({ name: 'fashion-mnist-subset', split: 'train' });
  const splits = selectSplits(train, null, { limitTrain: 40, limitTest: null, valHoldout: 0, seed: 0 });
  const o: TrainOptions = { ...base, batchSize: 20, labelSmoothing: 0.1, clipGradNorm: 5 };
  const { cfg, model } = resolveTrainConfig(o, splits, null, () => undefined);
  await model.dispose();
  assert.deepEqual([cfg.labelSmoothing, cfg.clipGradNorm, cfg.threads, cfg.epochs, cfg.auxWeight], [0.1, 5, null, 10, 0.3]);
  const saved = JSON.parse(JSON.stringify(cfg)) as Record<string, unknown>;
  assert.deepEqual(checkTrainConfig(saved, 'ck'), cfg);
  for (const k of NAMES.filter((n) => optionSpec(n).stored)) {
    assert.throws(
      () => checkTrainConfig({ ...saved, [k]: 'x' }, 'ck'),
      (e: WeightFormatError) =>
        e instanceof WeightFormatError && e.file === 'ck' && e.message === `ck: config.${k} is "x", expected ${expectedOf(k)}`,
      k,
    );
  }
  assert.throws(() => checkTrainConfig({ ...saved, labelSmoothing: 1 }, 'ck'), {
    message: 'ck: config.labelSmoothing is 1, expected a number in [0, 1)',
  });
  assert.throws(() => checkTrainConfig({ ...saved, schedule: { ...(saved.schedule as object), gamma: 0 } }, 'ck'), {
    message: 'ck: config.schedule.gamma is 0, expected a number in (0, 1]',
  });
  const logs: string[] = [];
  const resumed = resumedConfig({ ...base, epochs: 12, threads: 2, labelSmoothing: 0.2, seed: 4 }, saved, 'ck', (m) => logs.push(m));
  assert.deepEqual([resumed.epochs, resumed.threads, resumed.labelSmoothing, resumed.seed], [12, 2, 0.1, 0]);
  assert.deepEqual(logs, ["--resume: the checkpoint's config is used; ignoring --label-smoothing, --seed", '--resume: epochs 10 → 12']);
});
