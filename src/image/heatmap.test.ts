/**
 * Heat maps: upsampling equal to PyTorch's `F.interpolate(mode='bilinear', align_corners=False)`
 * (values printed by torch 1.13 for these inputs), normalization, the jet colours, the blend.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OptionError } from '../errors.js';
import { jet, normalizeCam, overlayCam, upsampleCam } from './heatmap.js';

const close = (a: ArrayLike<number>, b: readonly number[]): void => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-6, `at ${i}: ${a[i]} vs ${b[i]}`);
};

describe('heat maps', () => {
  it("upsampleCam is PyTorch's bilinear interpolation with align_corners=False (up, and down on one axis)", () => {
    const up = upsampleCam({ width: 2, height: 2, data: Float32Array.of(0, 1, 2, 3) }, 3, 4);
    close(up.data, [0, 0.5, 1, 0.5, 1, 1.5, 1.5, 2, 2.5, 2, 2.5, 3]);
    const mixed = upsampleCam({ width: 3, height: 2, data: Float32Array.of(1, 5, 2, 0, 4, 8) }, 2, 5);
    close(mixed.data, [2, 2.75, 1.9, 3.175, 1.5, 4.875, 1.1, 6.575, 1, 7]);
  });

  it('normalizeCam maps to [0, 1]; a flat map is zeros', () => {
    close(normalizeCam({ width: 3, height: 1, data: Float32Array.of(2, 4, 3) }).data, [0, 1, 0.5]);
    close(normalizeCam({ width: 2, height: 1, data: Float32Array.of(0, 0) }).data, [0, 0]);
  });

  it('jet runs dark blue → cyan → yellow → dark red', () => {
    assert.deepEqual(jet(0), [0, 0, 128]);
    assert.deepEqual(jet(0.375), [0, 255, 255]);
    assert.deepEqual(jet(0.625), [255, 255, 0]);
    assert.deepEqual(jet(1), [128, 0, 0]);
    assert.deepEqual(jet(Number.NaN), jet(0));
  });

  it('overlayCam blends (1 − α)·picture + α·colour, at the picture size, greyscale in colour', () => {
    const grey = { width: 4, height: 2, channels: 1 as const, data: new Uint8Array(8).fill(100) };
    const cam = { width: 2, height: 1, data: Float32Array.of(0, 1) };
    const o = overlayCam(grey, cam, { alpha: 0.5 });
    assert.equal(o.channels, 3);
    assert.deepEqual([...o.data.subarray(0, 3)], [50, 50, 114]); // left edge: the map's minimum, jet(0)
    assert.deepEqual([...o.data.subarray(9, 12)], [114, 50, 50]); // right edge: the maximum, jet(1)
    assert.deepEqual([...overlayCam(grey, cam, { alpha: 0 }).data.subarray(0, 3)], [100, 100, 100]);
    assert.throws(
      () => overlayCam(grey, cam, { alpha: 2 }),
      (e: unknown) => e instanceof OptionError && /alpha: expected a number in \[0, 1\], received number 2/.test(e.message),
    );
    assert.throws(() => upsampleCam({ width: 2, height: 2, data: new Float32Array(3) }, 4, 4), /upsampleCam: expected a map/);
  });
});
