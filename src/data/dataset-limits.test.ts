/**
 * Issue 12: dataset files that would take unbounded memory are refused from their declared
 * sizes — gzip bombs in IDX files stop at the size the header promises (or the file limit),
 * huge IDX images and oversized CIFAR batches are refused before they are read.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DatasetFormatError } from '../errors.js';
import { setLimits } from '../limits.js';
import { loadCifar } from './cifar-node.js';
import { encodeIdx } from './idx.js';
import { loadIdxDataset, readMaybeGzip } from './idx-node.js';

const dir = mkdtempSync(join(tmpdir(), 'googlenet-limits-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const info = { name: 'test', numClasses: 10, classes: [...'0123456789'], mean: [0.5], std: [0.5] };

test('IDX gzip bomb: inflating stops at the size the header promises, within bounded memory', async () => {
  // A header for 2 images of 28×28 (1,584 bytes) followed by 64 MiB of zeros: ~64 KB gzipped.
  const header = encodeIdx([2, 28, 28], new Uint8Array(2 * 28 * 28));
  const bomb = join(dir, 'bomb-images-idx3-ubyte.gz');
  writeFileSync(bomb, gzipSync(Buffer.concat([header, Buffer.alloc(64 << 20)]), { level: 9 }));
  const rss0 = process.memoryUsage().rss;
  await assert.rejects(readMaybeGzip(bomb), (e: unknown) => {
    assert.ok(e instanceof DatasetFormatError);
    assert.match(e.message, /bomb-images-idx3-ubyte\.gz: inflates to more than the 1584 bytes its IDX header promises/);
    return true;
  });
  assert.ok(process.memoryUsage().rss - rss0 < 48 << 20, 'stopped early, not after inflating everything');
  // Zeros with no IDX header stop at the first chunk; a header declaring more than the file limit
  // is refused from the header.
  const zeros = join(dir, 'zeros.gz');
  writeFileSync(zeros, gzipSync(Buffer.alloc(8 << 20)));
  await assert.rejects(readMaybeGzip(zeros), /zeros\.gz: bad magic number 0x00000000 at offset 0 after gunzip; not an IDX file/);
  const declared = join(dir, 'declared.gz');
  const big = Buffer.alloc(16);
  [0x803, 2000, 512, 512].forEach((v, i) => big.writeUInt32BE(v, 4 * i));
  writeFileSync(declared, gzipSync(Buffer.concat([big, Buffer.alloc(4 << 20)])));
  await assert.rejects(
    readMaybeGzip(declared),
    /declared\.gz: its IDX header declares 2000×512×512 = 524,288,000 bytes of data, more than the limit maxDatasetFileBytes is 268,435,456; raise it with GOOGLENET_MAX_DATASET_FILE_BYTES/,
  );
});

test('IDX images of 1000×1000 are refused (they would become the input size)', async () => {
  const images = join(dir, 'big-images-idx3-ubyte');
  const labels = join(dir, 'big-labels-idx1-ubyte');
  writeFileSync(images, encodeIdx([1, 1000, 1000], new Uint8Array(1000 * 1000)));
  writeFileSync(labels, encodeIdx([1], new Uint8Array(1)));
  await assert.rejects(
    loadIdxDataset({ images, labels, info }),
    /big-images-idx3-ubyte: 1000×1000 images; expected sides from 1 to 512 \(the limit maxDatasetImageSide is 512/,
  );
});

test('a CIFAR batch over the file limit is refused before reading, naming the file', async () => {
  const cifar = join(dir, 'cifar');
  rmSync(cifar, { recursive: true, force: true });
  mkdirSync(cifar);
  writeFileSync(join(cifar, 'test_batch.bin'), Buffer.alloc(3073 * 4));
  const before = setLimits({ maxDatasetFileBytes: 3073 * 2 });
  try {
    await assert.rejects(
      loadCifar('cifar10', cifar, 'test'),
      /test_batch\.bin: 12,292 bytes is more than the limit maxDatasetFileBytes is 6,146/,
    );
  } finally {
    setLimits(before);
  }
});
