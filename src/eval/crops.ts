/**
 * Test-time views of one image (the paper's §10 multi-crop evaluation), as HWC uint8 images of
 * inputSize × inputSize, pure functions of the image:
 *
 * - 1 crop: resize the shorter side to `resize`, centre crop (the single-crop protocol).
 * - 10 crops: four corners and the centre, and their mirrors (Krizhevsky et al.'s TenCrop): of the
 *   image resized to `resize` when it is larger than the crop (ImageNet: 256 → 224); for small
 *   fixed-size datasets (resize = crop, e.g. 28×28), of the image zero-padded by `pad` pixels,
 *   which shifts the crops the way random-crop training did.
 * - 144 crops (paper): the shorter side resized to 4 scales (256, 288, 320, 352 for a 224 input;
 *   proportionally for other sizes); the left, centre and right squares (top, centre, bottom for
 *   portrait images); from each, the four corner and the centre crops plus the square resized to
 *   the input size (6); and the mirror of each: 4 × 3 × 6 × 2 = 144.
 */
import { centerCrop, crop, hflip, pad as padImage, type RgbImage } from '../image/image.js';
import { resize, resizeShorter } from '../image/resize.js';
import { OptionError } from '../errors.js';

export const CROP_COUNTS = [1, 10, 144] as const;
export type CropCount = (typeof CROP_COUNTS)[number];

export interface CropOptions {
  /** Output side (the model's input size). */
  inputSize: number;
  /** Shorter side before cropping (1 and 10 crops). Default: inputSize. */
  resize?: number;
  /** 10 crops of a fixed-size image whose `resize` equals the crop: zero padding. Default max(1, round(inputSize / 14)). */
  pad?: number;
}

export function isCropCount(n: number): n is CropCount {
  return (CROP_COUNTS as readonly number[]).includes(n);
}

function shorterTo(img: RgbImage, s: number): RgbImage {
  return Math.min(img.width, img.height) === s ? img : resizeShorter(img, s);
}

/** Four corners and the centre (torchvision `FiveCrop` order: tl, tr, bl, br, centre). */
function fiveCrops(img: RgbImage, s: number): RgbImage[] {
  const { width: w, height: h } = img;
  if (s > w || s > h) throw new OptionError(`crops: a ${s}×${s} crop does not fit a ${w}×${h} image`, { option: 'size' });
  return [
    crop(img, { top: 0, left: 0, height: s, width: s }),
    crop(img, { top: 0, left: w - s, height: s, width: s }),
    crop(img, { top: h - s, left: 0, height: s, width: s }),
    crop(img, { top: h - s, left: w - s, height: s, width: s }),
    centerCrop(img, s),
  ];
}

/** The 144-crop scales for an input size: 256, 288, 320, 352 at 224. */
export function paperScales(inputSize: number): number[] {
  return [256, 288, 320, 352].map((s) => Math.round((s * inputSize) / 224));
}

/** The views of `img` (each inputSize × inputSize, same channels). */
export function cropViews(img: RgbImage, count: CropCount, o: CropOptions): RgbImage[] {
  const S = o.inputSize;
  const R = o.resize ?? S;
  switch (count) {
    case 1:
      return [centerCrop(shorterTo(img, R), S)];
    case 10: {
      const base = R > S ? shorterTo(img, R) : padImage(shorterTo(img, S), o.pad ?? Math.max(1, Math.round(S / 14)));
      const five = fiveCrops(base, S);
      return [...five, ...five.map(hflip)];
    }
    case 144: {
      const out: RgbImage[] = [];
      for (const scale of paperScales(S)) {
        const im = shorterTo(img, scale);
        const { width: w, height: h } = im;
        const side = Math.min(w, h);
        const long = Math.max(w, h);
        const offsets = [0, Math.round((long - side) / 2), long - side];
        for (const off of offsets) {
          const square =
            w >= h
              ? crop(im, { top: 0, left: off, height: side, width: side })
              : crop(im, { top: off, left: 0, height: side, width: side });
          const six = [...fiveCrops(square, S), resize(square, S, S)];
          out.push(...six, ...six.map(hflip));
        }
      }
      return out;
    }
  }
}
