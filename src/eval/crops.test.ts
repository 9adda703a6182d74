import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hflip, type RgbImage } from '../image/image.js';
import { cropViews, paperScales } from './crops.js';

function ramp(width: number, height: number, channels: 1 | 3 = 1): RgbImage {
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 251;
  return { width, height, channels, data };
}

test('1 crop: resize the shorter side, then the centre', () => {
  const v = cropViews(ramp(40, 30), 1, { inputSize: 24, resize: 28 });
  assert.equal(v.length, 1);
  assert.equal(v[0]!.width, 24);
  assert.equal(v[0]!.height, 24);
});

test('10 crops of a 256-px image: corners, centre, and their mirrors', () => {
  const img = ramp(300, 256, 3);
  const v = cropViews(img, 10, { inputSize: 224, resize: 256 });
  assert.equal(v.length, 10);
  for (const x of v) assert.deepEqual([x.width, x.height, x.channels], [224, 224, 3]);
  // top-left corner is the image's own top-left 224×224
  assert.deepEqual(v[0]!.data.subarray(0, 3 * 224), img.data.subarray(0, 3 * 224));
  for (let i = 0; i < 5; i++) assert.deepEqual(v[i + 5]!.data, hflip(v[i]!).data, `view ${i + 5} mirrors view ${i}`);
});

test('10 crops of a fixed-size small image: shifted by the padding, as random-crop training', () => {
  const img = ramp(28, 28);
  const v = cropViews(img, 10, { inputSize: 28, resize: 28 });
  assert.equal(v.length, 10);
  // centre crop of the padded image is the image itself
  assert.deepEqual(v[4]!.data, img.data);
  // top-left crop: 2 zero rows, then the image shifted right by 2
  assert.equal(v[0]!.data[0], 0);
  assert.equal(v[0]!.data[2 * 28 + 2], img.data[0]);
});

test("144 crops: 4 scales × 3 squares × 6 crops × mirror (the paper's §10)", () => {
  assert.deepEqual(paperScales(224), [256, 288, 320, 352]);
  const v = cropViews(ramp(320, 240, 3), 144, { inputSize: 224 });
  assert.equal(v.length, 144);
  for (const x of v) assert.deepEqual([x.width, x.height], [224, 224]);
  // each group of 12: six crops, then their mirrors
  for (let g = 0; g < 12; g++) for (let i = 0; i < 6; i++) assert.deepEqual(v[g * 12 + 6 + i]!.data, hflip(v[g * 12 + i]!).data);
  // portrait images take top/centre/bottom squares
  assert.equal(cropViews(ramp(240, 320), 144, { inputSize: 224 }).length, 144);
});
