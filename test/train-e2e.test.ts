/**
 * A tiny end-to-end run through the real `googlenet` command (issue 4, section 6): train on 300
 * images of the embedded Fashion-MNIST subset for 2 epochs at width 1/16 — the loss falls and a
 * checkpoint is written; a run stopped after epoch 1 and one interrupted by SIGINT mid-epoch,
 * each resumed, end with weights identical to the uninterrupted run; `eval`, `predict` and
 * `export` load the run folder; and every bad input gets its one-line message and exit code 1.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { encodeCifarRecords } from '../src/data/cifar.js';
import { openDataset } from '../src/data/dataset-node.js';
import { loadCheckpoint } from '../src/train/checkpoint-node.js';
import type { StepRecord } from '../src/train/metrics.js';
import { readMetrics } from '../src/train/metrics-node.js';
import { cli, cliAsync, ok } from './cli-run.js';
import { fixturePath, missingFixture } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'train-e2e-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The bad-input contract: exit 1, one line on stderr, exactly this message. */
function fails(message: string | RegExp, ...args: string[]): void {
  const r = cli(...args);
  assert.equal(r.status, 1, `googlenet ${args.join(' ')} should fail; stderr:\n${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${r.stderr}`);
  if (typeof message === 'string') assert.equal(lines[0], message);
  else assert.match(lines[0]!, message);
}

const COMMON = [
  '--dataset',
  'fashion-mnist-subset',
  '--width',
  '0.0625',
  '--batch-size',
  '50',
  '--limit-train',
  '300',
  '--limit-test',
  '200',
  '--lr',
  '0.002',
  '--seed',
  '1',
];
const run = (name: string): string => join(dir, name);

function weightsOf(name: string): Map<string, number[]> {
  const c = loadCheckpoint(join(run(name), 'checkpoint.safetensors'));
  return new Map([...c.weights].map(([k, v]) => [k, Array.from(v as ArrayLike<number | bigint>, Number)]));
}

function sameWeights(a: string, b: string): void {
  const wa = weightsOf(a);
  const wb = weightsOf(b);
  assert.deepEqual([...wa.keys()], [...wb.keys()]);
  for (const [k, v] of wa) assert.deepEqual(wb.get(k), v, `${k} differs between ${a} and ${b}`);
}

let full: Record<string, unknown>;
before(() => {
  full = JSON.parse(ok('train', ...COMMON, '--epochs', '2', '--out', run('full'), '--progress', 'none', '--json')) as Record<
    string,
    unknown
  >;
});

test('train: the loss falls, a checkpoint and the model directory are written, --json reports fractions', () => {
  assert.equal(full.status, 'completed');
  assert.equal(full.step, 12);
  for (const k of ['top1', 'top5'])
    assert.ok(typeof full[k] === 'number' && (full[k] as number) >= 0 && (full[k] as number) <= 1, `${k} = ${full[k]}`);
  const records = readMetrics(join(run('full'), 'metrics.jsonl'));
  const steps = records.filter((r): r is StepRecord => r.type === 'step');
  assert.equal(steps.length, 12, 'one step line per step (about 20 per epoch, at most one per step)');
  const mean = (xs: StepRecord[]): number => xs.reduce((s, r) => s + r.loss, 0) / xs.length;
  assert.ok(
    mean(steps.slice(-3)) < mean(steps.slice(0, 3)) - 0.05,
    `loss should fall: first ${mean(steps.slice(0, 3))}, last ${mean(steps.slice(-3))}`,
  );
  const epochs = records.filter((r) => r.type === 'epoch');
  assert.equal(epochs.length, 2);
  for (const e of epochs) assert.ok('top1' in e && typeof e.top1 === 'number');
  const c = loadCheckpoint(join(run('full'), 'checkpoint.safetensors'));
  assert.deepEqual(c.position, { epoch: 2, batch: 0, step: 12 });
  assert.equal((c.optimizer as { type: string }).type, 'adam');
  for (const f of [
    'config.json',
    'model.safetensors',
    'loss.png',
    'loss.svg',
    'accuracy.png',
    'accuracy.svg',
    'confusion.png',
    'confusion.json',
    'run.json',
  ]) {
    assert.ok(existsSync(join(run('full'), f)), `${f} in the run folder`);
  }
});

test('--resume after a finished epoch: the same weights as the uninterrupted run', () => {
  ok('train', ...COMMON, '--epochs', '1', '--out', run('two-part'), '--progress', 'none');
  assert.equal(loadCheckpoint(join(run('two-part'), 'checkpoint.safetensors')).position.step, 6);
  const out = ok('train', ...COMMON, '--epochs', '2', '--out', run('two-part'), '--resume', '--progress', 'none');
  assert.match(out, /Accuracy of Test Data: \d+\.\d\d%/);
  sameWeights('two-part', 'full');
});

test('SIGINT mid-epoch: a checkpoint at the exact step, exit 130, and --resume gives the same weights', async () => {
  let sent = false;
  const r = await cliAsync(
    ['train', ...COMMON, '--epochs', '2', '--out', run('sigint'), '--progress', 'plain', '--log-every', '1'],
    (err, kill) => {
      if (!sent && /epoch 1\/2 step 2\/6/.test(err)) {
        sent = true;
        kill('SIGINT');
      }
    },
  );
  assert.ok(sent, `never saw step 2:\n${r.stderr}`);
  assert.equal(r.status, 130, r.stderr);
  const m = /SIGINT: checkpoint saved at epoch 1, batch (\d)\/6 \(step (\d)\); continue with --resume/.exec(r.stderr);
  assert.ok(m, r.stderr);
  const pos = loadCheckpoint(join(run('sigint'), 'checkpoint.safetensors')).position;
  assert.deepEqual(pos, { epoch: 0, batch: Number(m[1]), step: Number(m[2]) });
  assert.ok(pos.batch >= 2 && pos.batch < 6, `stopped mid-epoch at batch ${pos.batch}`);
  const resumed = await cliAsync(['train', '--dataset', 'fashion-mnist-subset', '--out', run('sigint'), '--resume', '--progress', 'plain']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`resuming .* at epoch 1, batch ${pos.batch}/6 \\(step ${pos.step} of 12\\)`));
  sameWeights('sigint', 'full');
});

test('kill -9 at several points (mid-epoch, at the end-of-epoch checkpoint write): every state resumes to the same weights (issue 12)', async () => {
  const name = 'killed';
  const args = ['train', ...COMMON, '--epochs', '2', '--out', run(name), '--progress', 'plain', '--log-every', '1'];
  // Each pattern is seen on stderr, then SIGKILL: mid-epoch, right after the last step of an epoch
  // (validation and the checkpoint write follow), and in the second epoch.
  for (const at of [/epoch 1\/2 step 3\/6/, /epoch 1\/2 step 6\/6/, /epoch 2\/2 step 2\/6/]) {
    const resume = existsSync(join(run(name), 'checkpoint.safetensors')) ? ['--resume'] : [];
    let sent = false;
    const r = await cliAsync([...args, ...resume], (err, kill) => {
      if (!sent && at.test(err)) {
        sent = true;
        kill('SIGKILL');
      }
    });
    assert.ok(sent || r.status === 0, `never saw ${at}:\n${r.stderr}`);
    if (existsSync(join(run(name), 'checkpoint.safetensors'))) loadCheckpoint(join(run(name), 'checkpoint.safetensors'));
  }
  const last = await cliAsync([...args, '--resume']);
  assert.equal(last.status, 0, last.stderr);
  sameWeights(name, 'full');
  assert.deepEqual(
    readdirSync(run(name)).filter((f) => f.endsWith('.tmp')),
    [],
    'no temporary files are left behind',
  );
});

test('kill -9 inside the checkpoint write: the previous checkpoint stays byte-identical, the orphaned .tmp is removed on resume, the run ends as the uninterrupted one', async () => {
  const name = 'killed-in-write';
  const args = ['train', ...COMMON, '--epochs', '2', '--out', run(name), '--progress', 'none'];
  ok(...args, '--max-steps', '3');
  const ckpt = join(run(name), 'checkpoint.safetensors');
  const before = readFileSync(ckpt);
  // The next checkpoint write (end of epoch 1) stops half-way through its temporary file
  // (GOOGLENET_TEST_PAUSE_IN_WRITE, src/files-node.ts); SIGKILL lands there.
  let tmp = '';
  const killed = await cliAsync(
    [...args, '--resume'],
    (err, kill) => {
      const m = /GOOGLENET_TEST_PAUSE_IN_WRITE: paused half-way through (.+\.tmp)\n/.exec(err);
      if (m && !tmp) {
        tmp = m[1]!;
        kill('SIGKILL');
      }
    },
    { GOOGLENET_TEST_PAUSE_IN_WRITE: 'checkpoint.safetensors' },
  );
  assert.ok(tmp, `never paused in the checkpoint write:\n${killed.stderr}`);
  assert.equal(killed.status, null, 'killed by the signal');
  assert.ok(existsSync(tmp) && statSync(tmp).size > 0 && statSync(tmp).size < before.length * 0.75, 'a partly written temporary file');
  assert.ok(readFileSync(ckpt).equals(before), 'the previous checkpoint is byte-identical');
  const resumed = await cliAsync([...args, '--resume', '--progress', 'plain']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.ok(resumed.stderr.includes(`--resume: removed 1 temporary file(s) of interrupted writes: ${tmp}`), resumed.stderr);
  assert.deepEqual(
    readdirSync(run(name)).filter((f) => f.endsWith('.tmp')),
    [],
  );
  sameWeights(name, 'full');
});

test('eval loads the run folder (and an ensemble of two), prints the metrics and writes the confusion matrix', () => {
  const text = ok(
    'eval',
    '--model',
    run('full'),
    '--dataset',
    'fashion-mnist-subset',
    '--limit-test',
    '100',
    '--out',
    join(dir, 'eval-out'),
  );
  assert.match(text, /top-1 accuracy: \d+\.\d\d%   top-1 error: \d+\.\d\d%/);
  assert.match(text, /top-5 accuracy: /);
  assert.match(text, /per-class accuracy:\n\s+0 T-shirt\/top/);
  assert.match(text, /confusion matrix \(rows: true class, columns: predicted\):/);
  assert.match(text, /Accuracy of Test Data: \d+\.\d\d%\n$/);
  for (const f of ['eval.json', 'confusion.json', 'confusion.png', 'confusion.svg']) assert.ok(existsSync(join(dir, 'eval-out', f)), f);
  const one = JSON.parse(
    ok('eval', '--model', run('full'), '--dataset', 'fashion-mnist-subset', '--limit-test', '100', '--no-files', '--json'),
  ) as { top1: number; top5: number; n: number; confusion: number[][] };
  assert.equal(one.n, 100);
  assert.ok(one.top1 >= 0 && one.top1 <= 1 && one.top5 >= one.top1 && one.top5 <= 1);
  assert.equal(
    one.confusion.flat().reduce((a, b) => a + b, 0),
    100,
  );
  const tta = JSON.parse(
    ok(
      'eval',
      '--model',
      run('full'),
      '--model',
      run('two-part'),
      '--dataset',
      'fashion-mnist-subset',
      '--limit-test',
      '20',
      '--crops',
      '10',
      '--no-files',
      '--json',
    ),
  ) as { n: number; crops: number; models: string[] };
  assert.equal(tta.n, 20);
  assert.equal(tta.crops, 10);
  assert.equal(tta.models.length, 2);
});

test('predict and export load the run folder', async () => {
  const ds = await openDataset({ name: 'fashion-mnist-subset', split: 'test' });
  const s = ds.get(0) as { image: { data: Uint8Array }; label: number };
  const png = join(dir, 'test0.png');
  await sharp(Buffer.from(s.image.data), { raw: { width: 28, height: 28, channels: 1 } })
    .png()
    .toFile(png);
  const preds = JSON.parse(ok('predict', '--model', run('full'), '--top-k', '3', '--json', png)) as {
    top: { label: string; probability: number }[];
  }[];
  assert.equal(preds[0]!.top.length, 3);
  const classes = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
  for (const t of preds[0]!.top) assert.ok(classes.includes(t.label), t.label);
  ok('export', '--model', run('full'), '--format', 'onnx', '--out', join(dir, 'full.onnx'));
  assert.ok(readFileSync(join(dir, 'full.onnx')).length > 10000);
});

test('fine-tuning: --from a run folder with --freeze-backbone trains only the classifier', () => {
  ok(
    'train',
    '--dataset',
    'fashion-mnist-subset',
    '--from',
    run('full'),
    '--freeze-backbone',
    '--epochs',
    '1',
    '--batch-size',
    '50',
    '--limit-train',
    '100',
    '--limit-test',
    '50',
    '--lr',
    '0.01',
    '--out',
    run('frozen'),
    '--progress',
    'none',
  );
  const before = weightsOf('full');
  const after = weightsOf('frozen');
  const trainable = (k: string): boolean => !/running_|num_batches/.test(k);
  for (const [k, v] of before) {
    if (!trainable(k)) continue;
    if (k.startsWith('fc.')) assert.notDeepEqual(after.get(k), v, `${k} should train`);
    else assert.deepEqual(after.get(k), v, `${k} should stay frozen`);
  }
});

test('fine-tuning torchvision weights: a new 10-class head for Fashion-MNIST (greyscale replicated to RGB, 224 px)', (t) => {
  const weights = fixturePath('googlenet-tv-noaux10.pth');
  if (!weights) return t.skip(missingFixture('googlenet-tv-noaux10.pth'));
  const r = JSON.parse(
    ok(
      'train',
      '--dataset',
      'fashion-mnist-subset',
      '--from',
      weights,
      '--from-num-classes',
      '10',
      '--freeze-backbone',
      '--epochs',
      '1',
      '--batch-size',
      '10',
      '--limit-train',
      '20',
      '--limit-test',
      '10',
      '--out',
      run('tv'),
      '--progress',
      'none',
      '--json',
    ),
  ) as { status: string; step: number };
  assert.deepEqual([r.status, r.step], ['completed', 2]);
  const cfg = JSON.parse(readFileSync(join(run('tv'), 'config.json'), 'utf8')) as {
    model: { preset: string; inChannels: number; inputSize: number; numClasses: number };
    labels: string[];
    preprocess: { resize: number; mean: number[] };
  };
  assert.deepEqual([cfg.model.preset, cfg.model.inChannels, cfg.model.inputSize, cfg.model.numClasses], ['torchvision', 3, 224, 10]);
  assert.equal(cfg.labels[0], 'T-shirt/top');
  assert.equal(cfg.preprocess.mean.length, 3, 'the pretrained model keeps its RGB normalization');
});

test('an image folder (train/ and val/ sub-folders, JPEG and PNG): decoded in a worker, Inception crop, labels from the folder names', async () => {
  const root = join(dir, 'folder');
  for (const split of ['train', 'val']) {
    for (const [c, color] of [
      ['cat', { r: 200, g: 40, b: 40 }],
      ['dog', { r: 40, g: 40, b: 200 }],
    ] as const) {
      mkdirSync(join(root, split, c), { recursive: true });
      for (let i = 0; i < 4; i++) {
        const img = sharp({ create: { width: 40 + 4 * i, height: 30, channels: 3, background: color } });
        await (i % 2 ? img.png() : img.jpeg()).toFile(join(root, split, c, `${i}.${i % 2 ? 'png' : 'jpg'}`));
      }
    }
  }
  const r = await cliAsync([
    'train',
    '--dataset',
    'folder',
    '--data',
    root,
    '--width',
    '0.0625',
    '--epochs',
    '1',
    '--batch-size',
    '4',
    '--workers',
    '1',
    '--out',
    run('folder'),
    '--progress',
    'none',
    '--json',
  ]);
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { status: string; step: number; top1: number };
  assert.deepEqual([res.status, res.step], ['completed', 2]);
  const cfg = JSON.parse(readFileSync(join(run('folder'), 'config.json'), 'utf8')) as {
    labels: string[];
    model: { inputSize: number };
    preprocess: { resize: number; crop: number };
  };
  assert.deepEqual(cfg.labels, ['cat', 'dog']);
  assert.deepEqual([cfg.model.inputSize, cfg.preprocess.crop, cfg.preprocess.resize], [32, 32, 37]);
});

test('bad input: one line naming the option or file, exit 1', () => {
  const T = ['train', '--out', join(dir, 'bad')];
  fails(
    'googlenet: --dataset expects one of fashion-mnist, mnist, cifar10, cifar100, folder, fashion-mnist-subset, received "imagenet"',
    ...T,
    '--dataset',
    'imagenet',
  );
  fails('googlenet: --batch-size expects an integer ≥ 1, received "0"', ...T, '--dataset', 'mnist', '--batch-size', '0');
  fails('googlenet: --batch-size expects an integer ≥ 1, received "-5"', ...T, '--dataset', 'mnist', '--batch-size=-5');
  fails('googlenet: --epochs expects an integer ≥ 1, received "1.5"', ...T, '--dataset', 'mnist', '--epochs', '1.5');
  fails('googlenet: --lr expects a positive number, received "0"', ...T, '--dataset', 'mnist', '--lr', '0');
  fails('googlenet: --optimizer expects one of adam, adamw, sgd, received "rmsprop"', ...T, '--dataset', 'mnist', '--optimizer', 'rmsprop');
  fails(
    'googlenet: --schedule expects one of constant, step, cosine, received "linear"',
    ...T,
    '--dataset',
    'mnist',
    '--schedule',
    'linear',
  );
  // --ema is checked with its one declaration's check, the library's (0, 1) (the flag took ≤ 0.999999).
  fails('googlenet: --ema expects a decay in (0, 1), received "1"', ...T, '--dataset', 'mnist', '--ema', '1');
  fails(
    'googlenet: dataset mnist needs --data DIR (a folder with the four IDX files; `googlenet download mnist --dir DIR` fetches them)',
    ...T,
    '--dataset',
    'mnist',
  );
  fails(
    'googlenet: --freeze-backbone: expected a pretrained model to freeze (--from MODEL), received true',
    ...T,
    '--dataset',
    'fashion-mnist-subset',
    '--freeze-backbone',
  );
  fails(
    /^googlenet: --from: .*nope does not exist \(expected a model directory or a \.pth\/\.safetensors file\)$/,
    ...T,
    '--dataset',
    'fashion-mnist-subset',
    '--from',
    join(dir, 'nope'),
  );
  fails(
    /^googlenet: --resume: no checkpoint at .*\/bad\/checkpoint\.safetensors \(drop --resume to start a new run\)$/,
    ...T,
    '--dataset',
    'fashion-mnist-subset',
    '--resume',
  );
  fails(
    /^googlenet: --out: .*\/full already holds a run \(checkpoint\.safetensors\); pass --resume to continue it, or choose another folder$/,
    'train',
    '--dataset',
    'fashion-mnist-subset',
    '--out',
    run('full'),
  );
  fails(
    /^googlenet: --dataset: the run in .*\/full trains on fashion-mnist-subset, received "mnist"$/,
    'train',
    '--dataset',
    'mnist',
    '--out',
    run('full'),
    '--resume',
  );
  fails("googlenet: required option '--out <dir>' not specified", 'train', '--dataset', 'mnist');
  fails(
    'googlenet: loss is NaN at epoch 1, step 2 (lr 1.00e+38); training stopped. No checkpoint was written. Try a lower --lr or --clip-grad-norm.',
    'train',
    '--dataset',
    'fashion-mnist-subset',
    '--width',
    '0.0625',
    '--batch-size',
    '50',
    '--limit-train',
    '100',
    '--limit-test',
    '50',
    '--lr',
    '1e38',
    '--out',
    join(dir, 'nan'),
    '--progress',
    'none',
  );
  assert.ok(!existsSync(join(dir, 'nan', 'checkpoint.safetensors')));
  fails(
    'googlenet: --crops expects one of 1, 10, 144, received "7"',
    'eval',
    '--model',
    run('full'),
    '--dataset',
    'fashion-mnist-subset',
    '--crops',
    '7',
  );
  fails(/^googlenet: .*\/missing: no such model directory$/, 'eval', '--model', join(dir, 'missing'), '--dataset', 'fashion-mnist-subset');
  mkdirSync(join(dir, 'c100'), { recursive: true });
  for (const f of ['train.bin', 'test.bin'])
    writeFileSync(join(dir, 'c100', f), encodeCifarRecords('cifar100', new Uint8Array(2 * 3072), [3, 97], [1, 2]));
  fails(
    'googlenet: model 1 has 10 classes but dataset cifar100 has 100',
    'eval',
    '--model',
    run('full'),
    '--dataset',
    'cifar100',
    '--data',
    join(dir, 'c100'),
  );
  fails(
    'googlenet: cannot download "imagenet": expected one of mnist, fashion-mnist, cifar10, cifar100 (image folders are not downloadable)',
    'download',
    'imagenet',
  );
});

test('download: a wrong checksum from the server is refused and nothing is left behind', async () => {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(Buffer.from('not the real file'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const target = join(dir, 'dl');
  try {
    const r = await cliAsync(['download', 'fashion-mnist', '--dir', target, '--base-url', `http://127.0.0.1:${port}/`]);
    assert.equal(r.status, 1);
    const last = r.stderr.trim().split('\n').pop()!;
    assert.match(
      last,
      /^googlenet: checksum mismatch for train-images-idx3-ubyte\.gz: expected 8d4fb7e6c68d591d4c3dfef9ec88bf0d, got [0-9a-f]{32} \(from http:\/\/127\.0\.0\.1:\d+\/train-images-idx3-ubyte\.gz; the file was deleted\)$/,
    );
    assert.deepEqual(readdirSync(target), []);
  } finally {
    server.close();
  }
});
