/**
 * The decoder threads of folder predict: the same inputs as decoding on the main thread, a bad
 * file's ImageError with its message and file, a bad option's own class, the main thread's
 * limits in force in the workers, and a closed pool refusing work.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { ClosedError, ImageError, OptionError } from '../errors.js';
import { getLimits, setLimits } from '../limits.js';
import { decodeImageFile } from '../image/decode-node.js';
import { DecodePool, type DecodeInit } from './decode-pool-node.js';
import { preprocess } from './image.js';

let dir: string;
const files: string[] = [];
const RGB: DecodeInit = { resize: 40, crop: 32, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channels: 3 };
const GREY: DecodeInit = { resize: 28, crop: 28, mean: [0.5], std: [0.5], channels: 1 };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gl-decode-pool-'));
  for (let i = 0; i < 6; i++) {
    const w = 50 + 7 * i;
    const h = 37 + 3 * i;
    const px = Buffer.alloc(w * h * 3);
    for (let k = 0; k < px.length; k++) px[k] = (k * (i + 5) + ((k / (3 * w)) | 0) * 11) % 256;
    const f = join(dir, `p${i}.${i % 2 ? 'png' : 'jpg'}`);
    await sharp(px, { raw: { width: w, height: h, channels: 3 } })
      .toFormat(i % 2 ? 'png' : 'jpeg')
      .toFile(f);
    files.push(f);
  }
  writeFileSync(join(dir, 'broken.jpg'), 'not a jpeg');
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('decoder threads give the inputs the main thread gives, bit for bit (colour and greyscale)', async () => {
  for (const init of [RGB, GREY]) {
    const pool = new DecodePool(init, { workers: 2 });
    try {
      const got = await Promise.all(files.map((f) => pool.run(f)));
      for (const [i, f] of files.entries()) {
        const want = preprocess(await decodeImageFile(f, { channels: init.channels }), init);
        assert.deepEqual(got[i]!.dims, want.dims);
        assert.deepEqual(got[i]!.data, want.data, f);
      }
    } finally {
      await pool.close();
    }
  }
});

test('an unreadable file is an ImageError with the message and file of the main thread; a bad option keeps its class', async () => {
  const pool = new DecodePool(RGB, { workers: 1 });
  const huge = new DecodePool({ ...RGB, resize: getLimits().maxResize + 1 }, { workers: 1 });
  try {
    const broken = join(dir, 'broken.jpg');
    const main = (await decodeImageFile(broken).catch((e: unknown) => e)) as ImageError;
    await assert.rejects(pool.run(broken), (e: unknown) => e instanceof ImageError && e.message === main.message && e.file === main.file);
    await assert.rejects(
      pool.run(join(dir, 'missing.jpg')),
      (e: unknown) => e instanceof ImageError && /missing\.jpg: no such file$/.test(e.message),
    );
    await assert.rejects(
      huge.run(files[0]!),
      (e: unknown) => e instanceof OptionError && /preprocess: resize \d+ is more than/.test(e.message),
    );
    assert.equal((await pool.run(files[1]!)).data.length, 3 * 32 * 32, 'the pool goes on after errors');
  } finally {
    await pool.close();
    await huge.close();
  }
  await assert.rejects(pool.run(files[0]!), (e: unknown) => e instanceof ClosedError && /the image decoders is closed/.test(e.message));
});

test('the limits of the main thread hold in the decoder threads', async () => {
  const before = setLimits({ maxImagePixels: 100 });
  const pool = new DecodePool(RGB, { workers: 1 });
  try {
    await assert.rejects(pool.run(files[0]!), (e: unknown) => e instanceof ImageError && /pixel limit/.test(e.message));
  } finally {
    setLimits(before);
    await pool.close();
  }
});
