import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OptionError } from '../errors.js';
import type { RawImage } from './core.js';
import { Rng } from '../rng.js';
import {
  TransformPipeline,
  centerCrop,
  crop,
  hflip,
  inceptionCrop,
  inceptionCropParams,
  normalize,
  pad,
  photometric,
  randomCrop,
  resize,
  resolveTransformConfig,
  roundHalfEven,
  toChannels,
} from './transforms.js';

function image(w: number, h: number, c: 1 | 3, f: (x: number, y: number, k: number) => number): RawImage {
  const data = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) data[(y * w + x) * c + k] = f(x, y, k);
  return { width: w, height: h, channels: c, data };
}
const px = (img: RawImage, x: number, y: number, k = 0): number => img.data[(y * img.width + x) * img.channels + k] as number;

test('roundHalfEven is Python round', () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6, 3].map(roundHalfEven), [0, 2, 2, -0, -2, 2, 3, 3]);
});

test('crop fills outside the image; pad; hflip', () => {
  const img = image(3, 2, 1, (x, y) => 10 * y + x + 1);
  assert.deepEqual([...crop(img, { top: -1, left: 1, height: 2, width: 3 }).data], [0, 0, 0, 2, 3, 0]);
  const p = pad(img, 1);
  assert.deepEqual([p.width, p.height], [5, 4]);
  assert.deepEqual([...p.data.subarray(5, 10)], [0, 1, 2, 3, 0]);
  assert.deepEqual([...hflip(img).data], [3, 2, 1, 13, 12, 11]);
  const rgb = image(2, 1, 3, (x, _y, k) => x * 10 + k);
  assert.deepEqual([...hflip(rgb).data], [10, 11, 12, 0, 1, 2]);
  assert.deepEqual(img.data, image(3, 2, 1, (x, y) => 10 * y + x + 1).data, 'input untouched');
});

test('randomCrop = crop of the padded image at (int(H−h+1), int(W−w+1)) drawn in that order', () => {
  const img = image(8, 6, 3, (x, y, k) => x + 8 * y + 64 * k);
  for (let seed = 0; seed < 20; seed++) {
    const r = new Rng(seed);
    const twin = r.clone();
    const out = randomCrop(img, [5, 4], 2, r);
    const i = twin.int(6 + 4 - 5 + 1);
    const j = twin.int(8 + 4 - 4 + 1);
    assert.deepEqual(out, crop(pad(img, 2), { top: i, left: j, height: 5, width: 4 }));
    assert.deepEqual(r.getState(), twin.getState());
  }
  assert.throws(
    () => randomCrop(img, 20, 2, new Rng(0)),
    (e: unknown) => e instanceof OptionError && e.message === 'randomCrop: crop 20×20 is larger than the padded image 10×12',
  );
});

/** Plain bilinear with half-pixel centres and edge clamping, the reference for upscaling. */
function refBilinear(img: RawImage, ow: number, oh: number): number[] {
  const out: number[] = [];
  for (let y = 0; y < oh; y++)
    for (let x = 0; x < ow; x++)
      for (let k = 0; k < img.channels; k++) {
        const sx = Math.min(Math.max((x + 0.5) * (img.width / ow) - 0.5, 0), img.width - 1);
        const sy = Math.min(Math.max((y + 0.5) * (img.height / oh) - 0.5, 0), img.height - 1);
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const x1 = Math.min(x0 + 1, img.width - 1);
        const y1 = Math.min(y0 + 1, img.height - 1);
        const fx = sx - x0;
        const fy = sy - y0;
        const v =
          (1 - fy) * ((1 - fx) * px(img, x0, y0, k) + fx * px(img, x1, y0, k)) +
          fy * ((1 - fx) * px(img, x0, y1, k) + fx * px(img, x1, y1, k));
        out.push(Math.round(v));
      }
  return out;
}

test('resize: upscaling is exact bilinear; an int resizes the shorter side; constants stay constant; downscaling averages', () => {
  const img = image(4, 3, 3, (x, y, k) => (x * 37 + y * 71 + k * 13) % 256);
  const up = resize(img, [7, 10]);
  assert.deepEqual([up.width, up.height], [10, 7]);
  const ref = refBilinear(img, 10, 7);
  const maxDiff = Math.max(...[...up.data].map((v, i) => Math.abs(v - (ref[i] as number))));
  assert.ok(maxDiff <= 1, `bilinear differs by ${maxDiff}`);
  assert.deepEqual([resize(img, 6).width, resize(img, 6).height], [8, 6]);
  const tall = image(20, 40, 1, () => 9);
  const r = resize(tall, 10);
  assert.deepEqual([r.width, r.height], [10, 20]);
  assert.ok(r.data.every((v) => v === 9));
  assert.equal(resize(img, [3, 4]), img, 'same size: no copy');
  // 2× down of alternating columns 0/200 averages to 100 (antialiased, not sampled).
  const stripes = image(8, 8, 1, (x) => (x % 2) * 200);
  const half = resize(stripes, [4, 4]);
  for (let y = 0; y < 4; y++) for (let x = 1; x < 3; x++) assert.equal(px(half, x, y), 100);
  // A box region (PIL semantics: the filter may read just outside the box) vs crop-then-resize
  // (torchvision's resized_crop, which the Inception crop uses): only the latter ignores the dark half.
  const lr = image(10, 4, 1, (x) => (x < 5 ? 0 : 250));
  const box = { top: 0, left: 5, width: 5, height: 4 };
  assert.deepEqual([...resize(lr, [2, 2], box).data], [220, 250, 220, 250]);
  assert.ok(resize(crop(lr, box), [2, 2]).data.every((v) => v === 250));
});

test('centerCrop follows torchvision (round((H−h)/2)) and pads small images', () => {
  const img = image(5, 4, 1, (x, y) => y * 5 + x);
  const c = centerCrop(img, 2);
  assert.deepEqual([...c.data], [7, 8, 12, 13]); // left = round(1.5) = 2, top = 1
  const big = centerCrop(
    image(2, 2, 1, () => 1),
    4,
  );
  assert.deepEqual([...big.data], [0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
});

test('inceptionCropParams: boxes inside the image with area 8–100% and aspect 3/4–4/3', () => {
  const areas: number[] = [];
  for (let seed = 0; seed < 500; seed++) {
    const b = inceptionCropParams(200, 150, new Rng(seed));
    assert.ok(b.top >= 0 && b.left >= 0 && b.top + b.height <= 150 && b.left + b.width <= 200, JSON.stringify(b));
    const area = (b.width * b.height) / (200 * 150);
    areas.push(area);
    assert.ok(area >= 0.075 && area <= 1.0, `area ${area}`);
    const ratio = b.width / b.height;
    if (b.width > 10 && b.height > 10) assert.ok(ratio >= 0.7 && ratio <= 1.45, `ratio ${ratio}`);
  }
  const mean = areas.reduce((a, b) => a + b, 0) / areas.length;
  assert.ok(mean > 0.4 && mean < 0.6, `mean area ${mean}`); // ≈ (0.08 + 1)/2 less rejected large crops
});

test('inceptionCropParams: after 10 failed attempts (20 draws) the fallback is the centred box with clamped aspect', () => {
  const r = new Rng(5);
  const twin = r.clone();
  // A 100×10 strip: no crop of ≥ 90% area fits an aspect ratio ≤ 4/3.
  const b = inceptionCropParams(100, 10, r, { scale: [0.9, 1], ratio: [3 / 4, 4 / 3] });
  assert.deepEqual(b, { top: 0, left: 43, height: 10, width: 13 });
  for (let i = 0; i < 20; i++) twin.next();
  assert.deepEqual(r.getState(), twin.getState());
  assert.deepEqual(inceptionCropParams(10, 100, new Rng(1), { scale: [0.9, 1] }), { top: 43, left: 0, height: 13, width: 10 });
  assert.deepEqual(inceptionCropParams(30, 30, new Rng(1), { scale: [2, 3] }), { top: 0, left: 0, height: 30, width: 30 });
  const out = inceptionCrop(
    image(40, 30, 3, (x) => x),
    16,
    new Rng(2),
  );
  assert.deepEqual([out.width, out.height, out.channels], [16, 16, 3]);
});

test('photometric: ColorJitter semantics (order permutation, then factors, uint8 truncation)', () => {
  const img = image(4, 4, 3, (x, y, k) => 40 + x * 30 + y * 5 + k * 20);
  // brightness only: every pixel becomes trunc(f·v)
  const r = new Rng(11);
  const twin = r.clone();
  const out = photometric(img, r, { brightness: 0.4 });
  twin.permutation(3);
  const f = twin.uniform(0.6, 1.4);
  assert.deepEqual(
    [...out.data],
    [...img.data].map((v) => Math.min(255, Math.trunc(f * v))),
  );
  // saturation 0 factor → greyscale; contrast on a constant image is the identity
  const grey = image(2, 2, 1, () => 77);
  assert.deepEqual(photometric(grey, new Rng(1), { contrast: 0.9, saturation: 0.9 }).data, grey.data);
  // same rng → same output; input untouched
  const a = photometric(img, new Rng(3), { brightness: 0.4, contrast: 0.4, saturation: 0.4 });
  const b = photometric(img, new Rng(3), { brightness: 0.4, contrast: 0.4, saturation: 0.4 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.data, img.data);
  assert.equal(img.data[0], 40);
  assert.equal(photometric(img, new Rng(3), {}), img);
});

test('greyscale handling: replicate to 3, or PIL luma to 1', () => {
  const g = image(2, 1, 1, (x) => x * 100 + 5);
  assert.deepEqual([...toChannels(g, 3).data], [5, 5, 5, 105, 105, 105]);
  const c = image(3, 1, 3, (x, _y, k) => (x === k ? 255 : 0));
  assert.deepEqual([...toChannels(c, 1).data], [76, 150, 29]); // PIL convert('L') of pure R, G, B
  assert.equal(toChannels(g, 1), g);
});

test('normalize: (v/255 − mean)/std, CHW', () => {
  const img = image(2, 1, 3, (x, _y, k) => (x === 0 ? ([255, 0, 51][k] ?? 0) : 0));
  const out = normalize(img, [0.5, 0.5, 0.2], [0.5, 0.25, 0.1]);
  const want = [1, -1, -2, -2, 0, -2];
  out.forEach((v, i) => assert.ok(Math.abs(v - (want[i] as number)) < 1e-5, `${i}: ${v} vs ${want[i]}`));
  assert.throws(
    () => normalize(img, [0.5, 0.5], [1, 1]),
    /normalize: mean\/std need 3 values for a 3-channel image, got mean \[0.5, 0.5\], std \[1, 1\]/,
  );
});

const fashion = { channels: 1 as const, height: 28, width: 28, mean: [0.286], std: [0.353] };
const folder = { channels: 3 as const, height: null, width: null, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

test('resolveTransformConfig: defaults from the dataset, plain JSON, validation messages', () => {
  const c = resolveTransformConfig({ train: true, channels: 3, padding: 4 }, fashion);
  assert.deepEqual(c, {
    train: true,
    inputSize: 28,
    padding: 4,
    flip: true,
    inceptionCrop: false,
    photometric: false,
    channels: 3,
    resize: 28,
    mean: [0.286, 0.286, 0.286],
    std: [0.353, 0.353, 0.353],
  });
  const f = resolveTransformConfig({ train: false, inceptionCrop: true, photometric: true }, folder);
  assert.equal(f.inputSize, 224);
  assert.equal(f.resize, 256);
  assert.equal(f.flip, false);
  assert.deepEqual(f.inceptionCrop, { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] });
  assert.deepEqual(f.photometric, { brightness: 0.4, contrast: 0.4, saturation: 0.4 });
  assert.deepEqual(JSON.parse(JSON.stringify(new TransformPipeline(f))), f);
  assert.throws(
    () => resolveTransformConfig({ train: true, inputSize: 0 }, fashion),
    (e: unknown) => e instanceof OptionError && e.message === 'transform inputSize must be a positive integer. Received: inputSize=0',
  );
  assert.throws(
    () => resolveTransformConfig({ train: true, inceptionCrop: { scale: [0.5, 0.1] } }, fashion),
    /transform inceptionCrop.scale must be \[lo, hi\] with 0 < lo ≤ hi ≤ 1. Received: inceptionCrop.scale=\[0.5,0.1\]/,
  );
  assert.throws(
    () => resolveTransformConfig({ train: true, mean: [0.1, 0.2] }, fashion),
    /transform mean must be 1 finite number\(s\). Received: mean=\[0.1,0.2\]/,
  );
});

test('TransformPipeline: train is seeded and deterministic; eval ignores the rng; output C×S×S', () => {
  const img = image(28, 28, 1, (x, y) => (x * 9 + y * 3) % 256);
  const train = TransformPipeline.forDataset(fashion, {
    train: true,
    padding: 4,
    photometric: { brightness: 0.3, contrast: 0.3 },
    channels: 3,
    inputSize: 32,
  });
  assert.deepEqual(train.outputDims, [3, 32, 32]);
  const a = train.apply(img, new Rng(1));
  assert.equal(a.length, 3 * 32 * 32);
  assert.deepEqual(a, train.apply(img, new Rng(1)));
  assert.notDeepEqual(a, train.apply(img, new Rng(2)));
  const evalP = TransformPipeline.forDataset(fashion, { train: false });
  const e1 = evalP.apply(img, new Rng(1));
  assert.deepEqual(e1, evalP.apply(img, new Rng(99)));
  assert.ok(Math.abs((e1[0] as number) - (0 / 255 - 0.286) / 0.353) < 1e-6);
  // Folder-style eval: resize shorter side to 256/224·S, centre crop S.
  const photo = image(60, 40, 3, (x, y, k) => (x + y + k) % 256);
  const ev = TransformPipeline.forDataset(folder, { train: false, inputSize: 32 });
  assert.equal(ev.config.resize, 37);
  assert.equal(ev.apply(photo, new Rng(0)).length, 3 * 32 * 32);
  const inc = TransformPipeline.forDataset(folder, { train: true, inputSize: 24, inceptionCrop: true, photometric: true });
  assert.deepEqual(inc.apply(photo, new Rng(4)), inc.apply(photo, new Rng(4)));
});

test('TransformPipeline.applyInto (fused flip/replication) equals normalize(augment(…)) and the step-by-step reference', () => {
  const grey = image(20, 17, 1, (x, y) => (x * 13 + y * 29) % 256);
  const rgbImg = image(19, 23, 3, (x, y, k) => (x * 7 + y * 3 + k * 50) % 256);
  const cases = [
    { img: grey, info: fashion, opts: { train: true, inputSize: 16, padding: 3, photometric: true, channels: 3 as const } },
    { img: rgbImg, info: folder, opts: { train: true, inputSize: 12, inceptionCrop: true, photometric: true } },
    { img: rgbImg, info: folder, opts: { train: true, inputSize: 12, channels: 1 as const, photometric: { contrast: 0.5 } } },
    { img: rgbImg, info: folder, opts: { train: false, inputSize: 12 } },
  ];
  for (const { img, info, opts } of cases) {
    const p = TransformPipeline.forDataset(info, opts);
    for (let seed = 0; seed < 8; seed++) {
      const fused = p.apply(img, new Rng(seed));
      assert.deepEqual(fused, normalize(p.augment(img, new Rng(seed)), p.config.mean, p.config.std));
      // reference order: geometry, flip, photometric, channels
      const r = new Rng(seed);
      let im = img;
      if (opts.train) {
        if (p.config.inceptionCrop) im = inceptionCrop(im, p.config.inputSize, r, p.config.inceptionCrop);
        else im = randomCrop(resize(im, p.config.inputSize), p.config.inputSize, p.config.padding, r);
        if (r.float() < 0.5) im = hflip(im);
        if (p.config.photometric) im = photometric(im, r, p.config.photometric);
      } else {
        im = centerCrop(resize(im, p.config.resize), p.config.inputSize);
      }
      assert.deepEqual(fused, normalize(toChannels(im, p.config.channels), p.config.mean, p.config.std), `seed ${seed}`);
    }
  }
});
