import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { DatasetFormatError, OptionError } from '../errors.js';
import { DATASET_STATS, openDataset } from './dataset-node.js';
import { decodeImageFile, listImageFolder, openImageFolder } from './folder-node.js';

const tmp = mkdtempSync(join(tmpdir(), 'gl-folder-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A w×h RGB image whose pixel (x, y) = (x·10, y·10, base). */
function rgb(w: number, h: number, base: number): Buffer {
  const b = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) b.set([x * 10, y * 10, base], (y * w + x) * 3);
  return b;
}

async function png(path: string, w: number, h: number, base: number): Promise<void> {
  await sharp(rgb(w, h, base), { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toFile(path);
}

const root = join(tmp, 'animals');
before(async () => {
  for (const c of ['dog', 'cat', 'bird']) mkdirSync(join(root, c), { recursive: true });
  mkdirSync(join(root, 'cat', 'nested'), { recursive: true });
  await png(join(root, 'cat', 'b.png'), 6, 4, 1);
  await png(join(root, 'cat', 'nested', 'a.PNG'), 5, 5, 2);
  await sharp(rgb(8, 6, 3), { raw: { width: 8, height: 6, channels: 3 } })
    .jpeg({ quality: 95 })
    .toFile(join(root, 'dog', 'd.jpg'));
  await sharp(rgb(7, 3, 4), { raw: { width: 7, height: 3, channels: 3 } })
    .webp({ lossless: true })
    .toFile(join(root, 'dog', 'e.webp'));
  // Greyscale and RGBA PNGs are decoded to RGB.
  await sharp(Buffer.from([0, 100, 200, 255]), { raw: { width: 2, height: 2, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toFile(join(root, 'bird', 'grey.png'));
  await sharp(Buffer.from([10, 20, 30, 128, 40, 50, 60, 255]), { raw: { width: 2, height: 1, channels: 4 } })
    .png()
    .toFile(join(root, 'bird', 'rgba.png'));
  writeFileSync(join(root, 'bird', 'notes.txt'), 'ignored');
  writeFileSync(join(root, 'bird', '.hidden.png'), 'ignored');
});

const isFormatError = (msg: string) => (e: unknown) => {
  assert.ok(e instanceof DatasetFormatError, `expected DatasetFormatError, got ${String(e)}`);
  assert.equal(e.message, msg);
  return true;
};

test('lists one sub-folder per class (sorted), images below it, labels by class index', async () => {
  const l = await listImageFolder(root);
  assert.deepEqual(l.classes, ['bird', 'cat', 'dog']);
  assert.deepEqual(
    l.files.map((f) => f.slice(root.length + 1)),
    ['bird/grey.png', 'bird/rgba.png', 'cat/b.png', 'cat/nested/a.PNG', 'dog/d.jpg', 'dog/e.webp'],
  );
  assert.deepEqual([...l.labels], [0, 0, 1, 1, 2, 2]);
});

test('decodes PNG, JPEG, WebP, greyscale and RGBA lazily to RGB HWC', async () => {
  const ds = await openImageFolder(root);
  assert.equal(ds.size, 6);
  assert.deepEqual([ds.channels, ds.height, ds.width], [3, null, null]);
  assert.deepEqual(ds.mean, DATASET_STATS.imagenet.mean);
  const grey = await ds.get(0);
  assert.deepEqual([grey.image.width, grey.image.height, grey.image.channels], [2, 2, 3]);
  assert.deepEqual([...grey.image.data], [0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255]);
  const rgba = await ds.get(1);
  assert.deepEqual([...rgba.image.data], [10, 20, 30, 40, 50, 60]);
  const p = await ds.get(2);
  assert.equal(p.label, 1);
  assert.deepEqual([...p.image.data], [...rgb(6, 4, 1)]);
  const webp = await ds.get(5);
  assert.deepEqual([...webp.image.data], [...rgb(7, 3, 4)]);
  const jpg = await ds.get(4);
  assert.deepEqual([jpg.image.width, jpg.image.height, jpg.label], [8, 6, 2]);
  const want = rgb(8, 6, 3);
  const maxDiff = Math.max(...[...jpg.image.data].map((v, i) => Math.abs(v - (want[i] as number))));
  assert.ok(maxDiff < 40, `JPEG differs by ${maxDiff}`);
});

test('missing folder, a folder without class sub-folders, and one without images', async () => {
  const missing = join(tmp, 'nope');
  await assert.rejects(openImageFolder(missing), isFormatError(`folder dataset: ${missing} does not exist (--data)`));
  const flat = join(tmp, 'flat');
  mkdirSync(flat);
  await png(join(flat, 'x.png'), 2, 2, 0);
  await assert.rejects(
    openImageFolder(flat),
    isFormatError(
      `folder dataset ${flat}: no class sub-folders (expected one sub-folder per class, e.g. ${join(flat, 'cat', '0001.jpg')})`,
    ),
  );
  const empty = join(tmp, 'empty');
  mkdirSync(join(empty, 'a'), { recursive: true });
  mkdirSync(join(empty, 'b'), { recursive: true });
  writeFileSync(join(empty, 'a', 'readme.txt'), 'x');
  const warnings: string[] = [];
  await assert.rejects(
    openImageFolder(empty, { onWarning: (m) => warnings.push(m) }),
    isFormatError(`folder dataset ${empty}: no images found in 2 class sub-folders (looked for .jpg, .jpeg, .png, .webp)`),
  );
  assert.equal(warnings.length, 2);
  assert.equal(warnings[0], `warning: folder dataset ${empty}: class folder "a" has no images (.jpg, .jpeg, .png, .webp)`);
});

test('unreadable files: error by default (naming the file and how to skip), or skip with one warning', async () => {
  const dir = join(tmp, 'broken');
  mkdirSync(join(dir, 'a'), { recursive: true });
  mkdirSync(join(dir, 'b'), { recursive: true });
  await png(join(dir, 'a', '1.png'), 3, 3, 7);
  const bad = join(dir, 'a', '2.jpg');
  writeFileSync(bad, 'this is not a JPEG');
  await png(join(dir, 'b', '3.png'), 4, 4, 9);

  const strict = await openImageFolder(dir);
  await assert.rejects(
    strict.get(1),
    isFormatError(
      `cannot decode image ${bad} (Input file contains unsupported image format); pass --on-unreadable skip to skip unreadable files with a warning`,
    ),
  );

  const warnings: string[] = [];
  const lenient = await openImageFolder(dir, { onUnreadable: 'skip', onWarning: (m) => warnings.push(m) });
  const s = await lenient.get(1); // replaced by the next readable file
  assert.equal(s.label, 1);
  assert.equal(s.image.width, 4);
  await lenient.get(1);
  assert.deepEqual(warnings, [`warning: skipping unreadable image ${bad} (Input file contains unsupported image format)`]);

  // verify: read every header when opening; skip drops the file, error stops.
  const w2: string[] = [];
  const verified = await openImageFolder(dir, { verify: true, onUnreadable: 'skip', onWarning: (m) => w2.push(m) });
  assert.equal(verified.size, 2);
  assert.equal(w2.length, 1);
  await assert.rejects(
    openImageFolder(dir, { verify: true }),
    isFormatError(
      `cannot decode image ${bad} (Input file contains unsupported image format); pass --on-unreadable skip to skip unreadable files with a warning`,
    ),
  );
  // A truncated PNG is unreadable too.
  const trunc = join(dir, 'b', '4.png');
  const full = await sharp(rgb(16, 16, 5), { raw: { width: 16, height: 16, channels: 3 } })
    .png()
    .toBuffer();
  writeFileSync(trunc, full.subarray(0, full.length - 40));
  const again = await openImageFolder(dir);
  await assert.rejects(
    again.get(3),
    (e: unknown) => e instanceof DatasetFormatError && e.message.startsWith(`cannot decode image ${trunc} (`),
  );
});

test('openDataset folder: data/train + data/val layout, --val-data, and a missing validation split', async () => {
  const d = join(tmp, 'split');
  for (const s of ['train', 'val']) for (const c of ['x', 'y', 'z']) mkdirSync(join(d, s, c), { recursive: true });
  for (const c of ['x', 'y', 'z']) await png(join(d, 'train', c, '1.png'), 2, 2, 0);
  await png(join(d, 'val', 'y', '1.png'), 2, 2, 0);
  await png(join(d, 'val', 'z', '1.png'), 2, 2, 0);
  const train = await openDataset({ name: 'folder', data: d, split: 'train' });
  assert.equal(train.size, 3);
  const warnings: string[] = [];
  const val = await openDataset({ name: 'folder', data: d, split: 'test', onWarning: (m) => warnings.push(m) });
  assert.deepEqual(val.classes, ['x', 'y', 'z']);
  assert.equal(val.size, 2);
  assert.equal((await val.get(0)).label, 1); // indexed by the training classes
  assert.equal(warnings.length, 1); // val/x is empty

  // Separate validation folder; a class it has that training lacks is an error.
  const v2 = join(tmp, 'val2');
  mkdirSync(join(v2, 'y'), { recursive: true });
  mkdirSync(join(v2, 'zebra'), { recursive: true });
  await png(join(v2, 'y', '1.png'), 2, 2, 0);
  await assert.rejects(
    openDataset({ name: 'folder', data: join(d, 'train'), valData: v2, split: 'test' }),
    isFormatError(`folder dataset ${v2}: class folder "zebra" is not one of the 3 training classes (x, y, z)`),
  );
  await assert.rejects(openDataset({ name: 'folder', data: root, split: 'test' }), (e: unknown) => {
    assert.ok(e instanceof OptionError);
    assert.equal(
      e.message,
      `folder dataset ${root} has no validation split: pass --val-data DIR, or use ${root}/train and ${root}/val sub-folders`,
    );
    return true;
  });
  await assert.rejects(
    openDataset({ name: 'folder', split: 'train' }),
    /^OptionError: dataset folder needs --data DIR \(a folder with one sub-folder of images per class\)$/,
  );
});

test('decodeImageFile reports sharp errors for missing files', async () => {
  await assert.rejects(decodeImageFile(join(tmp, 'missing.png')), /Input file is missing/);
});
