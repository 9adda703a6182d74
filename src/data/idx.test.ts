import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DatasetFormatError } from '../errors.js';
import { findIdxFiles, loadIdxDataset } from './idx-node.js';
import { encodeIdx, parseIdx } from './idx.js';

const tmp = mkdtempSync(join(tmpdir(), 'gl-idx-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const info = { name: 'mnist', numClasses: 10, classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'], mean: [0.1307], std: [0.3081] };

/** n images of h×w where pixel (i, y, x) = (i·31 + y·7 + x) mod 256, labels i mod 10. */
function makeIdx(n: number, h = 5, w = 4): { images: Uint8Array; labels: Uint8Array; px: Uint8Array } {
  const px = Uint8Array.from({ length: n * h * w }, (_, k) => {
    const i = Math.floor(k / (h * w));
    const y = Math.floor((k % (h * w)) / w);
    const x = k % w;
    return (i * 31 + y * 7 + x) % 256;
  });
  return {
    images: encodeIdx([n, h, w], px),
    labels: encodeIdx(
      [n],
      Uint8Array.from({ length: n }, (_, i) => i % 10),
    ),
    px,
  };
}

function write(name: string, data: Uint8Array): string {
  const p = join(tmp, name);
  writeFileSync(p, data);
  return p;
}

const isFormatError = (msg: string) => (e: unknown) => {
  assert.ok(e instanceof DatasetFormatError, `expected DatasetFormatError, got ${String(e)}`);
  assert.equal(e.message, msg);
  return true;
};

test('reads raw and gzipped IDX pairs into a 1-channel in-memory dataset', async () => {
  const { images, labels, px } = makeIdx(12);
  for (const gz of [false, true]) {
    const ip = write(`ok-images${gz ? '.gz' : ''}`, gz ? gzipSync(images) : images);
    const lp = write(`ok-labels${gz ? '.gz' : ''}`, gz ? gzipSync(labels) : labels);
    const ds = await loadIdxDataset({ images: ip, labels: lp, info });
    assert.equal(ds.size, 12);
    assert.deepEqual([ds.channels, ds.height, ds.width], [1, 5, 4]);
    assert.ok(ds.images.buffer instanceof SharedArrayBuffer);
    const s = ds.get(3);
    assert.equal(s.label, 3);
    assert.deepEqual([...s.image.data], [...px.subarray(3 * 20, 4 * 20)]);
    assert.deepEqual(ds.mean, [0.1307]);
  }
});

test('encodeIdx/parseIdx round-trip with the standard magic numbers', () => {
  const buf = encodeIdx([2, 3, 3], new Uint8Array(18).fill(9));
  assert.deepEqual([...buf.subarray(0, 4)], [0, 0, 8, 3]);
  const a = parseIdx(buf, 'x', 3);
  assert.deepEqual(a.dims, [2, 3, 3]);
  assert.equal(a.data.length, 18);
});

test('wrong magic number names the file, the offset, what was found and what was expected', async () => {
  const { labels } = makeIdx(4);
  const ip = write('swapped-images', labels); // a label file where images belong
  const lp = write('swapped-labels', labels);
  await assert.rejects(
    loadIdxDataset({ images: ip, labels: lp, info }),
    isFormatError(
      `${ip}: bad magic number 0x00000801 at offset 0 (unsigned byte, 1 dimension); expected 0x00000803 (IDX images: unsigned bytes, 3 dimensions)`,
    ),
  );
  const junk = write('junk-images', new TextEncoder().encode('<html>not found</html>'));
  await assert.rejects(
    loadIdxDataset({ images: junk, labels: lp, info }),
    isFormatError(
      `${junk}: bad magic number 0x3c68746d at offset 0 (not an IDX file); expected 0x00000803 (IDX images: unsigned bytes, 3 dimensions)`,
    ),
  );
  const short = write('short-images', new Uint8Array([0, 0]));
  assert.throws(
    () => parseIdx(new Uint8Array([0, 0]), short, 3),
    isFormatError(`${short}: 2 bytes is too short for an IDX header (expected magic 0x00000803 at offset 0)`),
  );
});

test('truncated files: raw (size vs header) and gzipped (stream ends early)', async () => {
  const { images, labels } = makeIdx(5, 28, 28);
  const lp = write('t-labels', labels);
  const cut = write('t-images', images.subarray(0, images.length - 100));
  await assert.rejects(
    loadIdxDataset({ images: cut, labels: lp, info }),
    isFormatError(`${cut}: expected 3936 bytes (16-byte header + 5×28×28 data), found 3836 (truncated)`),
  );
  const long = write('l-images', Uint8Array.from([...images, 1, 2]));
  await assert.rejects(
    loadIdxDataset({ images: long, labels: lp, info }),
    isFormatError(`${long}: expected 3936 bytes (16-byte header + 5×28×28 data), found 3938 (2 bytes too long)`),
  );
  const gz = gzipSync(images);
  const cutGz = write('t-images.gz', gz.subarray(0, gz.length - 30));
  await assert.rejects(loadIdxDataset({ images: cutGz, labels: lp, info }), (e: unknown) => {
    assert.ok(e instanceof DatasetFormatError);
    assert.match(
      e.message,
      new RegExp(`^${cutGz.replace(/[.]/g, '\\.')}: truncated gzip stream \\(unexpected end of file\\); download it again$`),
    );
    return true;
  });
  const hdr = write('h-images', images.subarray(0, 10));
  await assert.rejects(
    loadIdxDataset({ images: hdr, labels: lp, info }),
    isFormatError(`${hdr}: 10 bytes is too short for the 16-byte IDX header of 3 dimensions (truncated)`),
  );
});

test('image and label counts must match', async () => {
  const a = makeIdx(5);
  const b = makeIdx(4);
  const ip = write('c-images', a.images);
  const lp = write('c-labels', b.labels);
  await assert.rejects(
    loadIdxDataset({ images: ip, labels: lp, info }),
    isFormatError(`${ip} has 5 images but ${lp} has 4 labels; the counts must match`),
  );
});

test('labels out of range name the sample and its byte offset', async () => {
  const { images } = makeIdx(5);
  const ip = write('r-images', images);
  const lp = write('r-labels', encodeIdx([5], Uint8Array.from([0, 1, 2, 12, 4])));
  await assert.rejects(
    loadIdxDataset({ images: ip, labels: lp, info }),
    isFormatError(`${lp}: label 12 of sample 3 (offset 11) is out of range; mnist has 10 classes (0–9)`),
  );
});

test('findIdxFiles: plain, gzipped, torchvision raw/ layouts; missing files say how to download', () => {
  const d = join(tmp, 'find');
  mkdirSync(join(d, 'MNIST', 'raw'), { recursive: true });
  writeFileSync(join(d, 'MNIST', 'raw', 'train-images-idx3-ubyte.gz'), '');
  writeFileSync(join(d, 'train-labels-idx1-ubyte'), '');
  writeFileSync(join(d, 't10k-images.idx3-ubyte'), '');
  assert.deepEqual(findIdxFiles(d, 'train', 'mnist'), {
    images: join(d, 'MNIST', 'raw', 'train-images-idx3-ubyte.gz'),
    labels: join(d, 'train-labels-idx1-ubyte'),
  });
  assert.throws(
    () => findIdxFiles(d, 'test', 'mnist'),
    isFormatError(
      `mnist: cannot find t10k-labels-idx1-ubyte[.gz] in ${d} (also looked in raw/, MNIST/raw/, FashionMNIST/raw/); run \`googlenet download mnist --dir ${d}\``,
    ),
  );
});
