/**
 * The pure parts of explanations: the region of a picture the model saw (torchvision's resize and
 * centre crop mapped back), the overlay's size, and branch activations from a module's output.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { branchActivations, overlayExplanation, viewedRegion } from './explain.js';

describe('explanations', () => {
  it('viewedRegion: Resize(256) + CenterCrop(224) of a 640×480 picture is its central 420×420 (in the picture’s pixels)', () => {
    // 640×480 → 341×256 (torchvision truncates the long side), crop at left round(58.5) = 58 (half to even), top 16.
    const r = viewedRegion(640, 480, { resize: 256, crop: 224 });
    const [sx, sy] = [640 / 341, 480 / 256];
    const want = { left: 58 * sx, top: 16 * sy, width: 224 * sx, height: 224 * sy };
    for (const k of ['left', 'top', 'width', 'height'] as const) assert.ok(Math.abs(r[k] - want[k]) < 1e-9, `${k}: ${r[k]} vs ${want[k]}`);
    assert.deepEqual(viewedRegion(28, 28, { resize: 28, crop: 28 }), { left: 0, top: 0, width: 28, height: 28 });
    // A crop taller than the resized picture (torchvision pads it): clipped to the picture.
    assert.deepEqual(viewedRegion(20, 10, { resize: 10, crop: 12 }), { left: 4, top: 0, width: 12, height: 10 });
  });

  it('overlayExplanation: the region at its own size, its longer side brought into [224, 1024], or the size asked', () => {
    const pic = { width: 64, height: 48, channels: 3 as const, data: new Uint8Array(64 * 48 * 3).fill(200) };
    const cam = { width: 2, height: 2, data: Float32Array.of(0, 1, 2, 3) };
    const o = overlayExplanation(pic, cam, { resize: 36, crop: 32 });
    assert.deepEqual([o.width, o.height], [224, 224]);
    const sized = overlayExplanation(pic, cam, { resize: 36, crop: 32 }, { width: 40, height: 40, alpha: 0 });
    assert.deepEqual([sized.width, sized.height], [40, 40]);
    assert.ok(
      sized.data.every((v) => v === 200),
      'alpha 0 leaves the picture',
    );
  });

  it('branchActivations: per image, each branch’s mean, L2 norm, share of the sum and channel-mean map', () => {
    // 2 images × 3 channels × 1×2, branches of 1 and 2 channels.
    const data = Float32Array.of(1, 3, 0, 2, 4, 0, /* image 2 */ 0, 0, 0, 0, 0, 0);
    const specs = [
      { name: 'a', ops: '1×1 conv', offset: 0, channels: 1 },
      { name: 'b', ops: '3×3 max pool', offset: 1, channels: 2 },
    ];
    const [one, two] = branchActivations({ dims: [2, 3, 1, 2], data }, specs);
    assert.equal(one![0]!.mean, 2);
    assert.equal(one![1]!.mean, 1.5);
    assert.equal(one![0]!.l2, Math.sqrt(10));
    assert.equal(one![1]!.l2, Math.sqrt(20));
    assert.equal(one![0]!.share, 0.4);
    assert.equal(one![1]!.share, 0.6);
    assert.deepEqual([...one![1]!.map.data], [2, 1]);
    assert.deepEqual([one![1]!.map.width, one![1]!.map.height], [2, 1]);
    assert.deepEqual(
      two!.map((b) => b.share),
      [0, 0],
      'an image with no activation has no shares',
    );
  });
});
