import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { ImageError } from '../errors.js';
import { decodeImageBuffer, decodeImageFile, readImageSize } from './decode-node.js';
import { setLimits } from '../limits.js';
import { toChannels, type RgbImage } from './image.js';
import { preprocess } from '../infer/image.js';
import { IMAGENET_CLASSES_PATH, cifar100Classes, cifar10Classes, fashionMnistClasses, imagenetClasses } from '../infer/labels-node.js';

// ---------------------------------------------------------------------------------------------
// Helpers

const dir = mkdtempSync(join(tmpdir(), 'gl-decode-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** Deterministic pixels with structure and noise. */
function pixels(width: number, height: number, channels: 1 | 2 | 3 | 4, seed: number): Buffer {
  const out = Buffer.alloc(width * height * channels);
  let s = seed;
  for (let i = 0; i < out.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = (i * 7 + Math.floor(i / (width * channels)) * 13 + (s % 40)) % 256;
  }
  return out;
}

async function write(
  name: string,
  data: Buffer,
  width: number,
  height: number,
  channels: 1 | 2 | 3 | 4,
  encode: (s: sharp.Sharp) => sharp.Sharp,
): Promise<string> {
  let s = sharp(data, { raw: { width, height, channels } });
  if (channels <= 2) s = s.toColourspace('b-w'); // else sharp writes greyscale as sRGB
  const path = join(dir, name);
  writeFileSync(path, await encode(s).toBuffer());
  return path;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths differ');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** Drops every `stride`-th channel `drop` of interleaved pixels (e.g. alpha). */
function dropChannel(data: Uint8Array, stride: number, drop: number): Uint8Array {
  return Uint8Array.from(data).filter((_, i) => i % stride !== drop);
}

// ---------------------------------------------------------------------------------------------
// Decoding

test('PNG: RGB decodes losslessly, HWC, 3 channels', async () => {
  const raw = pixels(31, 17, 3, 1);
  const img = await decodeImageFile(await write('rgb.png', raw, 31, 17, 3, (s) => s.png()));
  assert.deepEqual([img.width, img.height, img.channels], [31, 17, 3]);
  assert.deepEqual(img.data, new Uint8Array(raw));
});

test('PNG: alpha is dropped, not composited (PIL convert("RGB"))', async () => {
  const raw = pixels(9, 5, 4, 2);
  for (let i = 3; i < raw.length; i += 8) raw[i] = 0; // some pixels fully transparent
  const img = await decodeImageFile(await write('rgba.png', raw, 9, 5, 4, (s) => s.png()));
  assert.equal(img.channels, 3);
  assert.deepEqual(img.data, dropChannel(raw, 4, 3));
  const la = pixels(6, 4, 2, 3);
  const grey = await decodeImageFile(await write('la.png', la, 6, 4, 2, (s) => s.png()));
  assert.equal(grey.channels, 1);
  assert.deepEqual(grey.data, dropChannel(la, 2, 1));
});

test('greyscale stays 1 channel (PIL mode L) unless channels: 3 is asked', async () => {
  const raw = pixels(12, 10, 1, 4);
  const path = await write('grey.png', raw, 12, 10, 1, (s) => s.png());
  const img = await decodeImageFile(path);
  assert.deepEqual([img.width, img.height, img.channels], [12, 10, 1]);
  assert.deepEqual(img.data, new Uint8Array(raw));
  const rgb = await decodeImageFile(path, { channels: 3 });
  assert.equal(rgb.channels, 3);
  assert.deepEqual(rgb.data, toChannels(img, 3).data);
  const jpeg = await decodeImageFile(await write('grey.jpg', raw, 12, 10, 1, (s) => s.jpeg({ quality: 95 })));
  assert.equal(jpeg.channels, 1);
  const colour = await decodeImageFile(await write('colour.png', pixels(5, 3, 3, 5), 5, 3, 3, (s) => s.png()), { channels: 1 });
  assert.equal(colour.channels, 1);
});

test('JPEG decodes close to its source; WebP lossless decodes exactly', async () => {
  // A smooth picture, so JPEG's loss is small.
  const w = 40;
  const h = 30;
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) raw[(y * w + x) * 3 + c] = (x * 5 + y * 3 + c * 60) % 256;
  const jpeg = await decodeImageFile(await write('smooth.jpg', raw, w, h, 3, (s) => s.jpeg({ quality: 95, chromaSubsampling: '4:4:4' })));
  assert.deepEqual([jpeg.width, jpeg.height, jpeg.channels], [w, h, 3]);
  let sum = 0;
  for (let i = 0; i < raw.length; i++) sum += Math.abs((jpeg.data[i] as number) - (raw[i] as number));
  assert.ok(sum / raw.length < 3, `mean abs error ${sum / raw.length}`);
  const noisy = pixels(23, 19, 3, 6);
  const webp = await decodeImageFile(await write('noisy.webp', noisy, 23, 19, 3, (s) => s.webp({ lossless: true })));
  assert.deepEqual(webp.data, new Uint8Array(noisy));
});

test('EXIF orientation is not applied (PIL does not auto-rotate)', async () => {
  const path = await write('rotated.jpg', pixels(16, 8, 3, 7), 16, 8, 3, (s) => s.jpeg().withMetadata({ orientation: 6 }));
  assert.equal((await sharp(path).metadata()).orientation, 6);
  const img = await decodeImageFile(path);
  assert.deepEqual([img.width, img.height], [16, 8]);
});

test('decodeImageBuffer decodes from memory, names the source in errors', async () => {
  const raw = pixels(4, 3, 3, 8);
  const buf = await sharp(raw, { raw: { width: 4, height: 3, channels: 3 } })
    .png()
    .toBuffer();
  assert.deepEqual((await decodeImageBuffer(buf, 'mem.png')).data, new Uint8Array(raw));
  await assert.rejects(decodeImageBuffer(new Uint8Array(0), 'empty.png'), new ImageError('empty.png: not a decodable image (empty file)'));
});

test('errors: missing file, not an image, truncated, a directory — one line naming the file', async () => {
  await assert.rejects(decodeImageFile('cat.jpg'), new ImageError('cat.jpg: no such file', { file: 'cat.jpg' }));
  const notes = join(dir, 'notes.txt');
  writeFileSync(notes, 'shopping list\n- milk\n');
  await assert.rejects(decodeImageFile(notes), new ImageError(`${notes}: not a decodable image (unsupported image format)`));
  const png = await sharp(pixels(20, 20, 3, 9), { raw: { width: 20, height: 20, channels: 3 } })
    .png()
    .toBuffer();
  const truncated = join(dir, 'truncated.png');
  writeFileSync(truncated, png.subarray(0, 40));
  await assert.rejects(decodeImageFile(truncated), (err: unknown) => {
    assert.ok(err instanceof ImageError);
    assert.match(err.message, /^.*truncated\.png: not a decodable image \(.+\)$/);
    assert.ok(!err.message.includes('\n'), `one line: ${JSON.stringify(err.message)}`);
    return true;
  });
  await assert.rejects(decodeImageFile(dir), new ImageError(`${dir}: is a directory, not an image file`, { file: dir }));
});

test('regular files only, within the size limits: /dev/zero, a FIFO, an over-large file (issue 12)', async () => {
  await assert.rejects(decodeImageFile('/dev/zero'), /\/dev\/zero: not a regular file/);
  await assert.rejects(readImageSize('/dev/zero'), /\/dev\/zero: not a regular file/);
  const fifo = join(dir, 'pipe.png');
  execFileSync('mkfifo', [fifo]);
  await assert.rejects(decodeImageFile(fifo), /pipe\.png: not a regular file/);
  const big = join(dir, 'big.png');
  writeFileSync(big, Buffer.alloc(2048));
  const before = setLimits({ maxImageFileBytes: 1024 });
  try {
    await assert.rejects(
      decodeImageFile(big),
      /big\.png: 2,048 bytes is larger than the limit maxImageFileBytes is 1,024; raise it with GOOGLENET_MAX_IMAGE_FILE_BYTES/,
    );
  } finally {
    setLimits(before);
  }
  // sharp's pixel limit, from the header: a 20×20 PNG against a 100-pixel limit.
  const png = join(dir, 'twenty.png');
  await sharp(pixels(20, 20, 3, 1), { raw: { width: 20, height: 20, channels: 3 } })
    .png()
    .toFile(png);
  setLimits({ maxImagePixels: 100 });
  try {
    await assert.rejects(decodeImageFile(png), /twenty\.png: not a decodable image \(.*pixel limit/i);
  } finally {
    setLimits(before);
  }
});

// ---------------------------------------------------------------------------------------------
// Decoding parity with PIL (Image.open(...).convert(mode)), when python3-pil is there

const PYTHON = '/usr/bin/python3';
const havePil = spawnSync(PYTHON, ['-c', 'import PIL'], { encoding: 'utf8' });
const pilSkip =
  havePil.status === 0
    ? false
    : `needs ${PYTHON} with PIL (python3-pil): ${(havePil.error?.message ?? havePil.stderr.trim().split('\n').pop()) || 'import failed'}`;

test("decoded pixels equal PIL's for PNG, WebP and JPEG (4:2:0 and 4:4:4)", { skip: pilSkip }, async () => {
  const files: Array<[string, number]> = [
    [await write('p-rgb.png', pixels(33, 21, 3, 10), 33, 21, 3, (s) => s.png()), 0],
    [await write('p-rgba.png', pixels(33, 21, 4, 11), 33, 21, 4, (s) => s.png()), 0],
    [await write('p-grey.png', pixels(33, 21, 1, 12), 33, 21, 1, (s) => s.png()), 0],
    [await write('p.webp', pixels(33, 21, 3, 13), 33, 21, 3, (s) => s.webp({ lossless: true })), 0],
    // Both use libjpeg-turbo's default (islow DCT, fancy upsampling); builds may round one step apart.
    [await write('p420.jpg', pixels(67, 45, 3, 14), 67, 45, 3, (s) => s.jpeg({ quality: 90, chromaSubsampling: '4:2:0' })), 1],
    [await write('p444.jpg', pixels(67, 45, 3, 15), 67, 45, 3, (s) => s.jpeg({ quality: 75, chromaSubsampling: '4:4:4' })), 1],
    [await write('p-grey.jpg', pixels(30, 30, 1, 16), 30, 30, 1, (s) => s.jpeg({ quality: 80 })), 1],
  ];
  const script = [
    'import sys',
    'from PIL import Image',
    'for f in sys.argv[1:]:',
    '    im = Image.open(f)',
    "    im = im.convert('L' if im.mode in ('L', 'LA', '1') else 'RGB')",
    "    open(f + '.pil', 'wb').write(im.tobytes())",
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', script, ...files.map(([f]) => f)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const [file, tolerance] of files) {
    const ours = await decodeImageFile(file);
    const d = maxAbsDiff(ours.data, readFileSync(`${file}.pil`));
    assert.ok(d <= tolerance, `${file}: max abs diff ${d} > ${tolerance}`);
  }
});

// ---------------------------------------------------------------------------------------------
// The torchvision fixture: image-224.png → preprocess = io-image.safetensors `image_input`

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** The first folder holding `name`: $GOOGLENET_FIXTURES, test/fixtures/…, ../shared/fixtures/…. */
function fixture(name: string): string | undefined {
  const env = process.env['GOOGLENET_FIXTURES'];
  const dirs = [
    ...(env ? [env, join(env, 'torchvision-googlenet')] : []),
    join(REPO, 'test', 'fixtures', 'torchvision-googlenet'),
    join(REPO, '..', 'shared', 'fixtures', 'torchvision-googlenet'),
  ];
  return dirs.map((d) => join(d, name)).find((p) => existsSync(p));
}

/** A float32 tensor from a safetensors file (8-byte LE header length, JSON header, data). */
function readSafetensorsF32(path: string, key: string): { shape: number[]; data: Float32Array } {
  const buf = readFileSync(path);
  const headerLen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const entry = header[key];
  assert.ok(entry, `${path}: no key ${key}`);
  assert.equal(entry.dtype, 'F32', `${path}: ${key} dtype`);
  const [begin, end] = entry.data_offsets;
  const bytes = buf.subarray(8 + headerLen + begin, 8 + headerLen + end);
  const data = new Float32Array(bytes.length / 4);
  for (let i = 0; i < data.length; i++) data[i] = bytes.readFloatLE(i * 4);
  return { shape: entry.shape, data };
}

const imagePng = fixture('image-224.png');
const ioImage = fixture('io-image.safetensors');
const fixtureSkip = !imagePng
  ? 'fixture image-224.png not found ($GOOGLENET_FIXTURES, test/fixtures/torchvision-googlenet/, ../shared/fixtures/torchvision-googlenet/)'
  : !ioImage
    ? 'fixture io-image.safetensors not found ($GOOGLENET_FIXTURES, test/fixtures/torchvision-googlenet/, ../shared/fixtures/torchvision-googlenet/)'
    : false;

test("preprocess(image-224.png, {resize: 224, crop: 224}) matches torchvision's image_input", { skip: fixtureSkip }, async () => {
  const img: RgbImage = await decodeImageFile(imagePng as string);
  assert.deepEqual([img.width, img.height, img.channels], [224, 224, 3]);
  const ours = preprocess(img, { resize: 224, crop: 224 });
  const ref = readSafetensorsF32(ioImage as string, 'image_input');
  assert.deepEqual(ours.dims, ref.shape);
  const d = maxAbsDiff(ours.data, ref.data);
  assert.ok(d < 1e-6, `max abs error ${d}`);
});

// ---------------------------------------------------------------------------------------------
// Labels

test('imagenetClasses: 1000 torchvision names from assets/, resolved from the module', () => {
  assert.equal(IMAGENET_CLASSES_PATH, join(REPO, 'assets', 'imagenet-classes.json'));
  const names = imagenetClasses();
  assert.equal(names.length, 1000);
  assert.equal(names[0], 'tench');
  assert.equal(names[1], 'goldfish');
  names[0] = 'changed';
  assert.equal(imagenetClasses()[0], 'tench', 'callers get a copy');
});

test('Fashion-MNIST, CIFAR-10 and CIFAR-100 classes in their official orders', () => {
  assert.deepEqual(fashionMnistClasses, [
    'T-shirt/top',
    'Trouser',
    'Pullover',
    'Dress',
    'Coat',
    'Sandal',
    'Shirt',
    'Sneaker',
    'Bag',
    'Ankle boot',
  ]);
  assert.deepEqual(cifar10Classes, ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
  assert.equal(cifar100Classes.length, 100);
  assert.equal(new Set(cifar100Classes).size, 100);
  // The official fine_label_names are in alphabetical order.
  assert.deepEqual([...cifar100Classes].sort(), [...cifar100Classes]);
  assert.deepEqual([cifar100Classes[0], cifar100Classes[1], cifar100Classes[99]], ['apple', 'aquarium_fish', 'worm']);
});
