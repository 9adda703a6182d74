import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageError, OptionError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { preprocess, stackBatch } from '../infer/image.js';
import { centerCrop, toChannels, type Box, type RgbImage } from './image.js';
import { IMAGENET_MEAN, IMAGENET_STD, toTensor } from './normalize.js';
import { resize, resizeShorter, shorterSideSize } from './resize.js';

// ---------------------------------------------------------------------------------------------
// Helpers

/** mulberry32: a small deterministic PRNG, so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Noise, or a gradient with some noise and hard edges: both stress rounding. */
function makeImage(width: number, height: number, channels: 1 | 3, seed: number, kind: 'noise' | 'mixed' = 'noise'): RgbImage {
  const r = rng(seed);
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        let v: number;
        if (kind === 'noise') v = Math.floor(r() * 256);
        else {
          const g = ((x * 255) / Math.max(1, width - 1) + (y * 97) / Math.max(1, height - 1) + c * 40) % 256;
          const edge = (Math.floor(x / 7) + Math.floor(y / 5)) % 2 === 0 ? 0 : 60;
          v = Math.min(255, Math.max(0, Math.round(g + edge + (r() - 0.5) * 30)));
        }
        data[(y * width + x) * channels + c] = v;
      }
    }
  }
  return { width, height, channels, data };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; count: number; first: number } {
  assert.equal(a.length, b.length, 'lengths differ');
  let max = 0;
  let count = 0;
  let first = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    if (d > 0) {
      count++;
      if (first < 0) first = i;
    }
    if (d > max) max = d;
  }
  return { max, count, first };
}

// ---------------------------------------------------------------------------------------------
// Unit tests

test('shorterSideSize follows torchvision Resize(int): int(size * long / short)', () => {
  assert.deepEqual(shorterSideSize(500, 375, 256), { width: 341, height: 256 });
  assert.deepEqual(shorterSideSize(375, 500, 256), { width: 256, height: 341 });
  assert.deepEqual(shorterSideSize(224, 224, 256), { width: 256, height: 256 });
  assert.deepEqual(shorterSideSize(1000, 3, 2), { width: 666, height: 2 });
  assert.deepEqual(shorterSideSize(640, 480, 224), { width: 298, height: 224 });
});

test('resize: hand-computed 4 → 2 antialiased bilinear row', () => {
  // scale 2 ⇒ tent of half-width 2; output 0 weighs inputs 0,1,2 by 3/7,3/7,1/7 ⇒ 500/7 → 71,
  // output 1 weighs inputs 1,2,3 by 1/7,3/7,3/7 ⇒ 366.25/1.75 → 209.
  const img: RgbImage = { width: 4, height: 1, channels: 1, data: Uint8Array.from([0, 100, 200, 255]) };
  assert.deepEqual([...resize(img, 2, 1).data], [71, 209]);
});

test('resize keeps a constant image constant and returns a copy at the same size', () => {
  const img: RgbImage = { width: 13, height: 7, channels: 3, data: new Uint8Array(13 * 7 * 3).fill(77) };
  for (const [w, h] of [
    [5, 3],
    [40, 2],
    [13, 30],
    [1, 1],
  ] as const) {
    const out = resize(img, w, h);
    assert.equal(out.data.length, w * h * 3);
    assert.ok(
      out.data.every((v) => v === 77),
      `${w}×${h}`,
    );
  }
  const same = resize(img, 13, 7);
  assert.deepEqual(same.data, img.data);
  assert.notEqual(same.data, img.data);
});

test('centerCrop rounds like Python (half to even) and pads with zeros like torchvision', () => {
  // 5×5 image of pixel = index; crop 2 from 5: (5-2)/2 = 1.5 → 2.
  const img: RgbImage = { width: 5, height: 5, channels: 1, data: Uint8Array.from({ length: 25 }, (_, i) => i + 1) };
  assert.deepEqual([...centerCrop(img, 2).data], [13, 14, 18, 19]);
  // crop 4 from 5: 0.5 → 0.
  assert.deepEqual([...centerCrop(img, 4).data.subarray(0, 4)], [1, 2, 3, 4]);
  // 2×1 → 5×4: pad (5-2)//2 = 1 left, (4-1)//2 = 1 top.
  const small: RgbImage = { width: 2, height: 1, channels: 1, data: Uint8Array.from([8, 9]) };
  const padded = centerCrop(small, [4, 5]);
  assert.equal(padded.width, 5);
  assert.equal(padded.height, 4);
  assert.deepEqual([...padded.data], [0, 0, 0, 0, 0, 0, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
});

test("toChannels: PIL convert('L') luma, greyscale replication", () => {
  const rgb: RgbImage = { width: 4, height: 1, channels: 3, data: Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]) };
  assert.deepEqual([...toChannels(rgb, 1).data], [76, 150, 29, 255]);
  const grey: RgbImage = { width: 2, height: 1, channels: 1, data: Uint8Array.from([3, 200]) };
  assert.deepEqual([...toChannels(grey, 3).data], [3, 3, 3, 200, 200, 200]);
  assert.equal(toChannels(grey, 1), grey);
});

test('toTensor: CHW float32 (x/255 − mean)/std', () => {
  const img: RgbImage = { width: 2, height: 1, channels: 3, data: Uint8Array.from([0, 128, 255, 10, 20, 30]) };
  const t = toTensor(img);
  assert.deepEqual(t.dims, [3, 1, 2]);
  const expect = [0, 10, 128, 20, 255, 30].map((v, i) => {
    const c = Math.floor(i / 2);
    return (v / 255 - (IMAGENET_MEAN[c] as number)) / (IMAGENET_STD[c] as number);
  });
  const d = maxAbsDiff(t.data, expect);
  assert.ok(d.max < 1e-6, `max abs diff ${d.max}`);
  const grey = toTensor(img, { channels: 1, mean: [0], std: [1] });
  assert.deepEqual(grey.dims, [1, 1, 2]);
  assert.equal(grey.data[0], Math.fround(Math.round((0 * 299 + 128 * 587 + 255 * 114) / 1000) / 255));
  const rep = toTensor({ width: 1, height: 1, channels: 1, data: Uint8Array.from([51]) }, { channels: 3, mean: [0], std: [1] });
  assert.deepEqual([...rep.data], [0.2, 0.2, 0.2].map(Math.fround));
});

test('preprocess gives [1, C, crop, crop]; stackBatch gives [N, C, H, W]', () => {
  const img = makeImage(300, 200, 3, 1);
  const a = preprocess(img);
  assert.deepEqual(a.dims, [1, 3, 224, 224]);
  const g = preprocess(img, { resize: 40, crop: 32, channels: 1 });
  assert.deepEqual(g.dims, [1, 1, 32, 32]);
  const b = preprocess(makeImage(120, 250, 1, 2));
  const batch = stackBatch([a, b, { dims: [3, 224, 224], data: a.data }]);
  assert.deepEqual(batch.dims, [3, 3, 224, 224]);
  assert.deepEqual(batch.data.subarray(224 * 224 * 3, 2 * 224 * 224 * 3), b.data);
  assert.deepEqual(batch.data.subarray(2 * 224 * 224 * 3), a.data);
});

test('error messages say what was expected and what was received', () => {
  // Each OptionError names its argument (`option`), which these expected errors now carry too.
  const img = makeImage(8, 6, 3, 3);
  assert.throws(() => resize(img, 0, 5), new OptionError('resize: width must be a positive integer, received 0', { option: 'width' }));
  assert.throws(
    () => resize(img, 5, 2.5),
    new OptionError('resize: height must be a positive integer, received 2.5', { option: 'height' }),
  );
  assert.throws(
    () => resize({ ...img, data: new Uint8Array(10) }, 4, 4),
    new ImageError('resize: image data holds 10 bytes, expected 8×6×3 = 144'),
  );
  assert.throws(
    () => resizeShorter(img, -1),
    new OptionError('resizeShorter: size must be a positive integer, received -1', { option: 'size' }),
  );
  assert.throws(
    () => centerCrop(img, 0),
    new OptionError('centerCrop: crop height must be a positive integer, received 0', { option: 'crop' }),
  );
  assert.throws(
    () => toTensor(img, { channels: 1, mean: IMAGENET_MEAN }),
    new OptionError('toTensor: mean has 3 values for a 1-channel tensor; give 1 value, received [0.485, 0.456, 0.406]', { option: 'mean' }),
  );
  assert.throws(
    () => toTensor(img, { std: [1, 0, 1] }),
    new OptionError('toTensor: std values must be finite and non-zero, received [1, 0, 1]', { option: 'std' }),
  );
  assert.throws(() => stackBatch([]), new OptionError('stackBatch: no tensors to stack', { option: 'tensors' }));
  const t: Tensor = { dims: [1, 3, 4, 4], data: new Float32Array(48) };
  assert.throws(
    () => stackBatch([t, { dims: [1, 3, 4, 5], data: new Float32Array(60) }]),
    new OptionError('stackBatch: tensor 1 has shape [3, 4, 5], tensor 0 has [3, 4, 4]', { option: 'tensors' }),
  );
  assert.throws(
    () => stackBatch([{ dims: [2, 3, 4, 4], data: new Float32Array(96) }]),
    new OptionError('stackBatch: tensor 0 has dims [2, 3, 4, 4], expected [C, H, W] or [1, C, H, W]', { option: 'tensors' }),
  );
});

// ---------------------------------------------------------------------------------------------
// Parity with PIL + torchvision (Debian's python3-pil / python3-torchvision)

const PYTHON = '/usr/bin/python3';
const havePython = spawnSync(PYTHON, ['-c', 'import PIL, torchvision, numpy'], { encoding: 'utf8' });
const pythonSkip =
  havePython.status === 0
    ? false
    : `needs ${PYTHON} with PIL, torchvision and numpy (python3-pil, python3-torchvision): ${(havePython.error?.message ?? havePython.stderr.trim().split('\n').pop()) || 'import failed'}`;

/** An operation of the pipeline, run here and by torchvision on a PIL image. */
type Op =
  | ['resize_shorter', number]
  | ['resize', number, number] // width, height
  | ['resize_box', number, number, Box] // width, height, source region (PIL's box = left, top, right, bottom)
  | ['center_crop', number | [number, number]]
  | ['convert', 'L' | 'RGB']
  | ['to_tensor', number[], number[]];

interface Case {
  name: string;
  image: RgbImage;
  ops: Op[];
}

const PY_SCRIPT = String.raw`
import json, sys
import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T
d = sys.argv[1]
cases = json.load(open(d + '/cases.json'))
meta = []
for i, c in enumerate(cases):
    raw = open('%s/in_%d.raw' % (d, i), 'rb').read()
    x = Image.frombytes('L' if c['c'] == 1 else 'RGB', (c['w'], c['h']), raw)
    for op in c['ops']:
        if op[0] == 'resize_shorter': x = T.Resize(op[1])(x)
        elif op[0] == 'resize': x = T.Resize((op[2], op[1]))(x)
        elif op[0] == 'resize_box': x = x.resize((op[1], op[2]), Image.BILINEAR, box=tuple(op[3]))
        elif op[0] == 'center_crop': x = T.CenterCrop(op[1])(x)
        elif op[0] == 'convert': x = x.convert(op[1])
        elif op[0] == 'to_tensor': x = T.Normalize(op[1], op[2])(T.ToTensor()(x))
        else: raise ValueError(op[0])
    if isinstance(x, torch.Tensor):
        out = x.numpy().astype('<f4').tobytes(); meta.append({'dims': list(x.shape)})
    else:
        out = x.tobytes(); meta.append({'w': x.size[0], 'h': x.size[1], 'mode': x.mode})
    open('%s/out_%d.raw' % (d, i), 'wb').write(out)
json.dump(meta, open(d + '/meta.json', 'w'))
`;

function runOps(image: RgbImage, ops: Op[]): RgbImage | Tensor {
  let x: RgbImage | Tensor = image;
  for (const op of ops) {
    if (!('width' in x)) throw new Error('image op after to_tensor');
    switch (op[0]) {
      case 'resize_shorter':
        x = resizeShorter(x, op[1]);
        break;
      case 'resize':
        x = resize(x, op[1], op[2]);
        break;
      case 'resize_box':
        x = resize(x, op[1], op[2], op[3]);
        break;
      case 'center_crop':
        x = centerCrop(x, op[1]);
        break;
      case 'convert':
        x = toChannels(x, op[1] === 'L' ? 1 : 3);
        break;
      case 'to_tensor':
        x = toTensor(x, { mean: op[1], std: op[2] });
        break;
    }
  }
  return x;
}

/**
 * Random images (1 and 3 channels) resized from random fractional boxes: up- and downscaling,
 * boxes touching the edges, sizes from 1 pixel, as the Inception crop and `Image.resize(box=…)`
 * see them.
 */
function randomBoxCases(seed: number, count: number): Case[] {
  const r = rng(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const out: Case[] = [];
  for (let i = 0; i < count; i++) {
    const w = int(1, 90);
    const h = int(1, 90);
    const c = i % 2 === 0 ? 3 : 1;
    // Corners on a 1/8 grid or anywhere, clamped to the image; sometimes the whole width.
    const coord = (size: number): [number, number] => {
      const q = (v: number): number => (i % 3 === 0 ? v : Math.round(v * 8) / 8);
      const a = q(r() * size);
      const b = q(r() * size);
      return i % 5 === 0 ? [0, size] : [Math.min(a, b), Math.max(a, b)];
    };
    const [x0, x1] = coord(w);
    const [y0, y1] = coord(h);
    const ow = int(1, 120);
    const oh = int(1, 120);
    const box: Box = { left: x0, top: y0, width: x1 - x0, height: y1 - y0 };
    out.push({
      name: `${c === 1 ? 'L' : 'RGB'} ${w}×${h} → box (${x0}, ${y0}, +${box.width}, +${box.height}) → ${ow}×${oh} (random ${i})`,
      image: makeImage(w, h, c, seed * 100 + i, i % 4 === 1 ? 'mixed' : 'noise'),
      ops: [['resize_box', ow, oh, box]],
    });
  }
  return out;
}

const MEAN = [...IMAGENET_MEAN];
const STD = [...IMAGENET_STD];
const CASES: Case[] = [
  {
    name: 'RGB 500×375 noise → Resize(256) → CenterCrop(224) (÷1.465)',
    image: makeImage(500, 375, 3, 10),
    ops: [
      ['resize_shorter', 256],
      ['center_crop', 224],
    ],
  },
  {
    name: 'RGB 375×500 mixed → Resize(224) (portrait, ÷1.674)',
    image: makeImage(375, 500, 3, 11, 'mixed'),
    ops: [['resize_shorter', 224]],
  },
  {
    name: 'RGB 37×53 → Resize(256) → CenterCrop(224) (upscale ×6.9)',
    image: makeImage(37, 53, 3, 12),
    ops: [
      ['resize_shorter', 256],
      ['center_crop', 224],
    ],
  },
  { name: 'L 101×67 → Resize(50)', image: makeImage(101, 67, 1, 13), ops: [['resize_shorter', 50]] },
  { name: 'L 7×300 → Resize(13) (up in x, down in y)', image: makeImage(7, 300, 1, 14, 'mixed'), ops: [['resize_shorter', 13]] },
  { name: 'RGB 64×48 → 91×33 (up x, down y)', image: makeImage(64, 48, 3, 15), ops: [['resize', 91, 33]] },
  { name: 'RGB 64×48 → 64×21 (vertical pass only)', image: makeImage(64, 48, 3, 16), ops: [['resize', 64, 21]] },
  { name: 'L 64×48 → 29×48 (horizontal pass only)', image: makeImage(64, 48, 1, 17), ops: [['resize', 29, 48]] },
  { name: 'L 1×1 → 5×3', image: makeImage(1, 1, 1, 18), ops: [['resize', 5, 3]] },
  { name: 'RGB 1000×3 → Resize(2)', image: makeImage(1000, 3, 3, 19), ops: [['resize_shorter', 2]] },
  { name: 'RGB 97×89 → 26×24 (÷3.7)', image: makeImage(97, 89, 3, 20, 'mixed'), ops: [['resize', 26, 24]] },
  { name: 'L 16×16 → 32×32 (×2)', image: makeImage(16, 16, 1, 21), ops: [['resize', 32, 32]] },
  { name: 'RGB 64×64 → 32×32 (÷2)', image: makeImage(64, 64, 3, 22), ops: [['resize', 32, 32]] },
  { name: 'RGB 800×601 mixed → Resize(256) (÷2.35)', image: makeImage(800, 601, 3, 23, 'mixed'), ops: [['resize_shorter', 256]] },
  {
    name: 'L 10×4 → box (5, 0, 10, 4) → 2×2 (the filter reads left of the box)',
    image: makeImage(10, 4, 1, 40),
    ops: [['resize_box', 2, 2, { left: 5, top: 0, width: 5, height: 4 }]],
  },
  {
    name: 'RGB 50×40 → box (3, 4, 33, 39) → 30×35 (integer box of the output size: a crop)',
    image: makeImage(50, 40, 3, 41),
    ops: [['resize_box', 30, 35, { left: 3, top: 4, width: 30, height: 35 }]],
  },
  {
    name: 'RGB 64×48 → box (0, 0, 64, 48) → 64×48 (whole image: a copy)',
    image: makeImage(64, 48, 3, 42),
    ops: [['resize_box', 64, 48, { left: 0, top: 0, width: 64, height: 48 }]],
  },
  {
    name: 'L 30×20 → box (0, 2.5, 30, 17.5) → 30×9 (vertical only, fractional)',
    image: makeImage(30, 20, 1, 43, 'mixed'),
    ops: [['resize_box', 30, 9, { left: 0, top: 2.5, width: 30, height: 15 }]],
  },
  ...randomBoxCases(44, 16),
  { name: 'RGB 225×227 → CenterCrop(224) (round half to even)', image: makeImage(225, 227, 3, 24), ops: [['center_crop', 224]] },
  { name: 'L 30×41 → CenterCrop(45) (zero padding)', image: makeImage(30, 41, 1, 25), ops: [['center_crop', 45]] },
  { name: 'RGB 50×20 → CenterCrop([31, 40]) (pad y, crop x)', image: makeImage(50, 20, 3, 26), ops: [['center_crop', [31, 40]]] },
  { name: 'RGB 33×34 → CenterCrop([7, 30])', image: makeImage(33, 34, 3, 27), ops: [['center_crop', [7, 30]]] },
  { name: "RGB 40×30 → convert('L')", image: makeImage(40, 30, 3, 28), ops: [['convert', 'L']] },
  {
    name: "L 40×30 → convert('RGB') → Resize(17)",
    image: makeImage(40, 30, 1, 29),
    ops: [
      ['convert', 'RGB'],
      ['resize_shorter', 17],
    ],
  },
  {
    name: 'RGB 300×200 → Resize(256) → CenterCrop(224) → ToTensor → Normalize(ImageNet)',
    image: makeImage(300, 200, 3, 30, 'mixed'),
    ops: [
      ['resize_shorter', 256],
      ['center_crop', 224],
      ['to_tensor', MEAN, STD],
    ],
  },
  {
    name: 'L 28×28 → Resize(32) → ToTensor → Normalize(0.2860, 0.3530)',
    image: makeImage(28, 28, 1, 31),
    ops: [
      ['resize_shorter', 32],
      ['to_tensor', [0.286], [0.353]],
    ],
  },
];

test('byte-exact parity with torchvision Resize / CenterCrop / ToTensor / Normalize on PIL images', { skip: pythonSkip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'gl-image-parity-'));
  try {
    // PIL's box is (left, top, right, bottom), with right and bottom computed as `resize` does.
    const pilBox = (b: Box): number[] => [b.left, b.top, b.left + b.width, b.top + b.height];
    const pilOps = (ops: Op[]): unknown[] => ops.map((op) => (op[0] === 'resize_box' ? [op[0], op[1], op[2], pilBox(op[3])] : op));
    const cases = CASES.map((c) => ({ w: c.image.width, h: c.image.height, c: c.image.channels, ops: pilOps(c.ops) }));
    writeFileSync(join(dir, 'cases.json'), JSON.stringify(cases));
    CASES.forEach((c, i) => writeFileSync(join(dir, `in_${i}.raw`), c.image.data));
    writeFileSync(join(dir, 'parity.py'), PY_SCRIPT);
    const r = spawnSync(PYTHON, [join(dir, 'parity.py'), dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, `python failed: ${r.stderr}`);
    const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as Array<{
      w?: number;
      h?: number;
      mode?: string;
      dims?: number[];
    }>;
    CASES.forEach((c, i) => {
      const ours = runOps(c.image, c.ops);
      const ref = readFileSync(join(dir, `out_${i}.raw`));
      const m = meta[i];
      assert.ok(m, `no python result for ${c.name}`);
      if ('width' in ours) {
        assert.deepEqual([ours.width, ours.height, ours.channels], [m.w, m.h, m.mode === 'L' ? 1 : 3], `${c.name}: size`);
        const d = maxAbsDiff(ours.data, ref);
        assert.equal(d.max, 0, `${c.name}: ${d.count} bytes differ (max ${d.max}, first at ${d.first})`);
      } else {
        assert.deepEqual(ours.dims, m.dims, `${c.name}: dims`);
        const refF = new Float32Array(new Uint8Array(ref).buffer); // little-endian, as written
        const d = maxAbsDiff(ours.data, refF);
        assert.equal(d.max, 0, `${c.name}: ${d.count} values differ (max ${d.max}, first at ${d.first})`);
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
