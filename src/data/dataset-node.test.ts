import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { OptionError } from '../errors.js';
import {
  DEBIAN_FASHION_MNIST_DIR,
  MemoryDataset,
  SubsetDataset,
  datasetFromSource,
  embeddedSubsetDir,
  openDataset,
  type DatasetName,
} from './dataset-node.js';
import { encodeIdx } from './idx.js';

const tmp = mkdtempSync(join(tmpdir(), 'gl-dataset-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const isOptionError = (msg: string) => (e: unknown) => {
  assert.ok(e instanceof OptionError, `expected OptionError, got ${String(e)}`);
  assert.equal(e.message, msg);
  return true;
};

function counts(labels: ArrayLike<number>): number[] {
  const c = new Array<number>(10).fill(0);
  for (let i = 0; i < labels.length; i++) c[labels[i] as number] = (c[labels[i] as number] as number) + 1;
  return c;
}

test('an unknown dataset name, an unknown split and a missing --data are one clear line each', async () => {
  await assert.rejects(
    openDataset({ name: 'imagenet' as DatasetName }),
    isOptionError(
      'unknown dataset "imagenet" (--dataset); expected one of fashion-mnist, mnist, cifar10, cifar100, folder, fashion-mnist-subset',
    ),
  );
  await assert.rejects(
    openDataset({ name: 'mnist', split: 'val' as 'test' }),
    isOptionError('unknown split "val"; expected train or test'),
  );
  await assert.rejects(
    openDataset({ name: 'mnist' }),
    isOptionError('dataset mnist needs --data DIR (a folder with the four IDX files; `googlenet download mnist --dir DIR` fetches them)'),
  );
  await assert.rejects(
    openDataset({ name: 'cifar10' }),
    isOptionError('dataset cifar10 needs --data DIR (the folder of the binary version; `googlenet download cifar10 --dir DIR` fetches it)'),
  );
});

test('the embedded Fashion-MNIST subset: 3,000 train / 1,000 test, balanced, 28×28×1, resolved from the module', async () => {
  assert.ok(existsSync(join(embeddedSubsetDir(), 'train-images-idx3-ubyte.gz')), embeddedSubsetDir());
  const train = await openDataset({ name: 'fashion-mnist-subset', split: 'train' });
  const testSplit = await openDataset({ name: 'fashion-mnist-subset', split: 'test' });
  assert.ok(train instanceof MemoryDataset && testSplit instanceof MemoryDataset);
  assert.equal(train.size, 3000);
  assert.equal(testSplit.size, 1000);
  assert.deepEqual(counts(train.labels), new Array(10).fill(300));
  assert.deepEqual(counts(testSplit.labels), new Array(10).fill(100));
  assert.deepEqual([train.channels, train.height, train.width, train.numClasses], [1, 28, 28, 10]);
  assert.deepEqual([train.mean, train.std], [[0.286], [0.353]]);
  assert.equal(train.classes[9], 'Ankle boot');
  // real images: not blank, mean pixel near Fashion-MNIST's 0.286·255
  let sum = 0;
  for (const v of train.images) sum += v;
  const mean = sum / train.images.length / 255;
  assert.ok(Math.abs(mean - 0.286) < 0.03, `mean ${mean}`);
});

test('mnist from a --data folder of gzipped IDX files', async () => {
  const n = 20;
  writeFileSync(join(tmp, 'train-images-idx3-ubyte.gz'), gzipSync(encodeIdx([n, 28, 28], new Uint8Array(n * 784).fill(3))));
  writeFileSync(
    join(tmp, 'train-labels-idx1-ubyte.gz'),
    gzipSync(
      encodeIdx(
        [n],
        Uint8Array.from({ length: n }, (_, i) => i % 10),
      ),
    ),
  );
  const ds = await openDataset({ name: 'mnist', data: tmp });
  assert.equal(ds.size, n);
  assert.deepEqual([ds.mean, ds.std], [[0.1307], [0.3081]]);
  assert.equal(ds.name, 'mnist');
});

test(
  "fashion-mnist without --data reads Debian's /usr/share/datasets/fashion-mnist (60,000 / 10,000)",
  { skip: !existsSync(DEBIAN_FASHION_MNIST_DIR) && `${DEBIAN_FASHION_MNIST_DIR} is not installed` },
  async () => {
    const train = await openDataset({ name: 'fashion-mnist' });
    assert.equal(train.size, 60000);
    assert.ok(train instanceof MemoryDataset);
    assert.deepEqual(counts(train.labels), new Array(10).fill(6000));
    const t = await openDataset({ name: 'fashion-mnist', split: 'test' });
    assert.equal(t.size, 10000);
    assert.deepEqual([t.height, t.width, t.channels], [28, 28, 1]);
  },
);

test('datasetFromSource rebuilds memory and subset datasets without copying shared pixels', async () => {
  const ds = await openDataset({ name: 'fashion-mnist-subset', split: 'test' });
  assert.ok(ds instanceof MemoryDataset);
  const sub = new SubsetDataset(ds, [5, 900, 17]);
  const src = sub.source();
  const cloned = structuredClone(src);
  const back = datasetFromSource(cloned);
  assert.equal(back.size, 3);
  const a = await back.get(1);
  const b = ds.get(900);
  assert.deepEqual(a, b);
  assert.ok(src.kind === 'subset' && src.parent.kind === 'memory' && src.parent.images.buffer instanceof SharedArrayBuffer);
  assert.throws(() => new SubsetDataset(ds, [1000]), /fashion-mnist-subset subset: sample index 1000 is out of range \[0, 1000\)/);
  assert.throws(() => ds.get(-1), /sample index -1 is out of range/);
});
