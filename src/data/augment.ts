/**
 * The training augmentations: seeded, pure functions of (image, parameters, rng) on HWC uint8
 * images. None of them writes into its input; randomness comes only from the `Rng` passed in, so
 * a sample's augmentation is a pure function of (seed, epoch, index).
 *
 * Semantics follow torchvision's: `RandomCrop(size, padding)`, `RandomHorizontalFlip`,
 * `RandomResizedCrop` (the Inception crop, with its 10-attempt fallback; crop, then Pillow's
 * bilinear resize), `ColorJitter` (brightness, contrast, saturation; tensor backend, uint8
 * truncation after each step). The deterministic pixel operations they build on (crop, flip,
 * resize, centre crop, channels, normalisation) are in `../image/`.
 */
import { OptionError } from '../errors.js';
import { checkImage, crop, roundHalfEven, sizeHW, type Box, type RgbImage, type Size } from '../image/image.js';
import { resize } from '../image/resize.js';
import type { Rng } from '../rng.js';

/**
 * torchvision `RandomCrop(size, padding)`: pads by `padding` (with `fill`), then crops `size` at a
 * uniformly random position (draws: top, then left).
 * @param padding pixels added on each side before cropping; default 0.
 * @param fill padding value; default 0.
 */
export function randomCrop(img: RgbImage, size: Size, padding: number, rng: Rng, fill = 0): RgbImage {
  const [th, tw] = sizeHW(size);
  const H = img.height + 2 * padding;
  const W = img.width + 2 * padding;
  if (th > H || tw > W) throw new OptionError(`randomCrop: crop ${th}×${tw} is larger than the padded image ${H}×${W}`, { option: 'size' });
  const i = rng.int(H - th + 1);
  const j = rng.int(W - tw + 1);
  return crop(img, { top: i - padding, left: j - padding, height: th, width: tw }, fill);
}

/** The Inception crop's parameters (torchvision `RandomResizedCrop`). */
export interface InceptionCropOptions {
  /** Range of the crop's area as a fraction of the image's; default [0.08, 1]. */
  scale?: readonly [number, number];
  /** Range of the crop's aspect ratio width/height (sampled log-uniformly); default [3/4, 4/3]. */
  ratio?: readonly [number, number];
}

export const INCEPTION_CROP_DEFAULTS: { scale: [number, number]; ratio: [number, number] } = { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] };

/**
 * `RandomResizedCrop.get_params`: up to 10 attempts of (area fraction ~ U(scale), log aspect ~
 * U(log ratio)); the first that fits gives a box at a uniformly random position. If none fits,
 * the largest centred box whose aspect ratio is clamped into `ratio`.
 */
export function inceptionCropParams(width: number, height: number, rng: Rng, options: InceptionCropOptions = {}): Box {
  const scale = options.scale ?? INCEPTION_CROP_DEFAULTS.scale;
  const ratio = options.ratio ?? INCEPTION_CROP_DEFAULTS.ratio;
  const area = width * height;
  const logR0 = Math.log(ratio[0]);
  const logR1 = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logR0, logR1));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    w = width;
    h = roundHalfEven(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    h = height;
    w = roundHalfEven(h * Math.max(ratio[0], ratio[1]));
  } else {
    w = width;
    h = height;
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** The Inception crop ("8%–100% of the area, aspect 3/4–4/3"), resized to `outSize`. */
export function inceptionCrop(img: RgbImage, outSize: Size, rng: Rng, options: InceptionCropOptions = {}): RgbImage {
  const box = inceptionCropParams(img.width, img.height, rng, options);
  const [oh, ow] = sizeHW(outSize);
  return resize(crop(img, box), ow, oh); // crop, then resize (torchvision's resized_crop)
}

/** Photometric distortion strengths: each factor is drawn from U(max(0, 1 − v), 1 + v); 0 disables it. */
export interface PhotometricOptions {
  /** Default 0. */
  brightness?: number;
  /** Default 0. */
  contrast?: number;
  /** Default 0 (no effect on 1-channel images). */
  saturation?: number;
}

/** uint8 greyscale of an RGB pixel, torchvision's `rgb_to_grayscale` (0.2989, 0.587, 0.114, truncated). */
function grey(r: number, g: number, b: number): number {
  return Math.trunc(0.2989 * r + 0.587 * g + 0.114 * b);
}

/**
 * torchvision `ColorJitter(brightness, contrast, saturation)`: draws the order of the three
 * operations (a permutation), then the factor of each enabled one (brightness, contrast,
 * saturation), and applies them in that order, each blending with black / the mean grey / the
 * pixel's grey and truncating to uint8.
 */
export function photometric(img: RgbImage, rng: Rng, options: PhotometricOptions): RgbImage {
  checkImage(img, 'photometric');
  const order = rng.permutation(3);
  const draw = (v: number | undefined): number | null => (v && v > 0 ? rng.uniform(Math.max(0, 1 - v), 1 + v) : null);
  const factors = [draw(options.brightness), draw(options.contrast), draw(options.saturation)];
  if (factors.every((f) => f === null)) return img;
  const c = img.channels;
  const n = img.width * img.height;
  const data = Uint8Array.from(img.data);
  const blend = (f: number, other: (i: number) => number): void => {
    for (let i = 0; i < data.length; i++) {
      const v = f * (data[i] as number) + (1 - f) * other(i);
      data[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
    }
  };
  for (const op of order) {
    const f = factors[op];
    if (f === null || f === undefined) continue;
    if (op === 0) blend(f, () => 0);
    else if (op === 1) {
      let sum = 0;
      if (c === 3) for (let p = 0; p < n; p++) sum += grey(data[3 * p] as number, data[3 * p + 1] as number, data[3 * p + 2] as number);
      else for (let p = 0; p < n; p++) sum += data[p] as number;
      const mean = sum / n;
      blend(f, () => mean);
    } else if (c === 3) {
      const g = new Uint8Array(n);
      for (let p = 0; p < n; p++) g[p] = grey(data[3 * p] as number, data[3 * p + 1] as number, data[3 * p + 2] as number);
      blend(f, (i) => g[(i / 3) | 0] as number);
    }
  }
  return { width: img.width, height: img.height, channels: img.channels, data };
}
