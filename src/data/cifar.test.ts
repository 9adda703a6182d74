import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DatasetFormatError } from '../errors.js';
import { loadCifar } from './cifar-node.js';
import { encodeCifarRecords, parseCifarRecords } from './cifar.js';
import { CIFAR10_CLASSES, DATASET_STATS } from './core.js';

const tmp = mkdtempSync(join(tmpdir(), 'gl-cifar-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** HWC pixels where (record r, y, x, c) = (r·13 + y·5 + x·3 + c·101) mod 256. */
function pixels(n: number, seed = 0): Uint8Array {
  const px = new Uint8Array(n * 3072);
  for (let r = 0; r < n; r++)
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++)
        for (let c = 0; c < 3; c++) {
          px[r * 3072 + (y * 32 + x) * 3 + c] = (r * 13 + seed + y * 5 + x * 3 + c * 101) % 256;
        }
  return px;
}

const isFormatError = (msg: string) => (e: unknown) => {
  assert.ok(e instanceof DatasetFormatError, `expected DatasetFormatError, got ${String(e)}`);
  assert.equal(e.message, msg);
  return true;
};

test('record layout: label byte, then R, G, B planes; stored as HWC', () => {
  const rec = new Uint8Array(3073);
  rec[0] = 7;
  rec[1] = 200; // R of pixel (0,0)
  rec[1 + 1024] = 100; // G of pixel (0,0)
  rec[1 + 2048 + 33] = 50; // B of pixel (1,1)
  const r = parseCifarRecords(rec, 'x.bin', 'cifar10');
  assert.equal(r.labels[0], 7);
  assert.deepEqual([...r.images.subarray(0, 3)], [200, 100, 0]);
  assert.equal(r.images[33 * 3 + 2], 50);
  const px = pixels(3);
  const back = parseCifarRecords(encodeCifarRecords('cifar10', px, [1, 2, 3]), 'y.bin', 'cifar10');
  assert.deepEqual(back.images, px);
});

test('CIFAR-10: five training batches + test batch, in the cifar-10-batches-bin sub-folder, class names from batches.meta.txt', async () => {
  const dir = join(tmp, 'c10');
  const bin = join(dir, 'cifar-10-batches-bin');
  mkdirSync(bin, { recursive: true });
  for (let b = 1; b <= 5; b++)
    writeFileSync(join(bin, `data_batch_${b}.bin`), encodeCifarRecords('cifar10', pixels(2, b * 2), [b, (b + 5) % 10]));
  writeFileSync(join(bin, 'test_batch.bin'), encodeCifarRecords('cifar10', pixels(3, 99), [9, 8, 7]));
  writeFileSync(join(bin, 'batches.meta.txt'), CIFAR10_CLASSES.join('\n') + '\n\n');
  const train = await loadCifar('cifar10', dir, 'train');
  assert.equal(train.size, 10);
  assert.deepEqual([...train.labels], [1, 6, 2, 7, 3, 8, 4, 9, 5, 0]);
  assert.deepEqual([train.channels, train.height, train.width], [3, 32, 32]);
  assert.deepEqual(train.get(3).image.data, pixels(2, 4).subarray(3072));
  assert.deepEqual(train.classes, CIFAR10_CLASSES);
  assert.deepEqual(train.mean, DATASET_STATS.cifar10.mean);
  assert.deepEqual(train.std, [0.247, 0.2435, 0.2616]);
  const test = await loadCifar('cifar10', bin, 'test');
  assert.equal(test.size, 3);
  assert.equal(test.get(0).label, 9);
});

test('CIFAR-100: coarse and fine labels; fine labels index the 100 classes', async () => {
  const dir = join(tmp, 'c100');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train.bin'), encodeCifarRecords('cifar100', pixels(4), [0, 99, 50, 7], [4, 1, 19, 0]));
  writeFileSync(join(dir, 'test.bin'), encodeCifarRecords('cifar100', pixels(1), [3], [8]));
  const ds = await loadCifar('cifar100', dir, 'train');
  assert.equal(ds.numClasses, 100);
  assert.deepEqual([...ds.labels], [0, 99, 50, 7]);
  assert.deepEqual([...(ds.coarseLabels ?? [])], [4, 1, 19, 0]);
  assert.equal(ds.classes[99], 'worm');
  assert.deepEqual(ds.mean, [0.5071, 0.4865, 0.4409]);
  assert.equal((await loadCifar('cifar100', dir, 'test')).size, 1);
});

test('truncated CIFAR file: size is not a whole number of records', async () => {
  const dir = join(tmp, 'trunc');
  mkdirSync(dir, { recursive: true });
  const f = join(dir, 'test_batch.bin');
  writeFileSync(f, encodeCifarRecords('cifar10', pixels(2), [1, 2]).subarray(0, 3073 + 1000));
  await assert.rejects(
    loadCifar('cifar10', dir, 'test'),
    isFormatError(
      `${f}: 4073 bytes is not a whole number of 3073-byte CIFAR-10 records (1 label byte + 3072 pixels): 1 records and 1000 bytes left over (truncated or wrong format)`,
    ),
  );
  // A CIFAR-100 file read as CIFAR-10 fails the same way.
  const other = join(tmp, 'wrong-variant');
  mkdirSync(other, { recursive: true });
  const g = join(other, 'test_batch.bin');
  writeFileSync(g, encodeCifarRecords('cifar100', pixels(3), [1, 2, 3]));
  await assert.rejects(
    loadCifar('cifar10', other, 'test'),
    isFormatError(
      `${g}: 9222 bytes is not a whole number of 3073-byte CIFAR-10 records (1 label byte + 3072 pixels): 3 records and 3 bytes left over (truncated or wrong format)`,
    ),
  );
});

test('labels out of range name the record and offset', async () => {
  const dir = join(tmp, 'range');
  mkdirSync(dir, { recursive: true });
  const f = join(dir, 'test_batch.bin');
  writeFileSync(f, encodeCifarRecords('cifar10', pixels(3), [1, 2, 10]));
  await assert.rejects(
    loadCifar('cifar10', dir, 'test'),
    isFormatError(`${f}: label 10 of record 2 (offset 6146) is out of range; cifar10 has 10 classes (0–9)`),
  );
  const g = join(dir, 'test.bin');
  writeFileSync(g, encodeCifarRecords('cifar100', pixels(2), [1, 2], [3, 20]));
  await assert.rejects(
    loadCifar('cifar100', dir, 'test'),
    isFormatError(`${g}: coarse label 20 of record 1 (offset 3074) is out of range; cifar100 has 20 superclasses (0–19)`),
  );
});

test('missing files say where they were looked for and how to download them', async () => {
  const dir = join(tmp, 'empty');
  mkdirSync(dir, { recursive: true });
  await assert.rejects(
    loadCifar('cifar10', dir, 'train'),
    isFormatError(
      `cifar10: cannot find data_batch_1.bin in ${dir} or ${join(dir, 'cifar-10-batches-bin')}; run \`googlenet download cifar10 --dir ${dir}\``,
    ),
  );
  writeFileSync(join(dir, 'data_batch_1.bin'), encodeCifarRecords('cifar10', pixels(1), [1]));
  await assert.rejects(
    loadCifar('cifar10', dir, 'train'),
    isFormatError(
      `cifar10: missing ${join(dir, 'data_batch_2.bin')} (expected data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin in ${dir})`,
    ),
  );
});
