/**
 * The one 8-bit image type, and the pixel operations that training (`data/`), evaluation
 * (`eval/`) and inference (`infer/`) share: crop, pad, mirror, torchvision's `CenterCrop`, and
 * PIL's greyscale conversion. Resampling is in `resize.ts`, `ToTensor` + `Normalize` in
 * `normalize.ts`. Pure functions of their inputs, no Node or browser imports; none writes into
 * its input.
 *
 * Images are 8-bit, HWC (row-major, channels interleaved), 1 (greyscale, PIL mode `L`) or
 * 3 (RGB) channels, the layout of PIL and sharp.
 */
import { describeValue, ImageError, OptionError } from '../errors.js';

/** A decoded 8-bit image: `data[(y * width + x) * channels + c]` (HWC). */
export interface RgbImage {
  width: number;
  height: number;
  /** 1 = greyscale (PIL `L`), 3 = RGB. */
  channels: 1 | 3;
  /** width × height × channels bytes, HWC. */
  data: Uint8Array;
}

/** A rectangle in pixel coordinates (may be fractional for `resize`'s `box`). */
export interface Box {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** A size: one number for a square, or `[height, width]` (torchvision's order). */
export type Size = number | readonly [height: number, width: number];

/** `[height, width]` of a `Size`. */
export function sizeHW(size: Size): [number, number] {
  return typeof size === 'number' ? [size, size] : [size[0], size[1]];
}

/** @throws ImageError when `img` is not a well-formed 1- or 3-channel image. */
export function checkImage(img: RgbImage, where: string): void {
  if (typeof img !== 'object' || img === null)
    throw new ImageError(`${where}: expected an image { width, height, channels, data }, received ${describeValue(img)}`);
  const { width, height, channels, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageError(`${where}: image size must be positive integers, received ${width}×${height}`);
  }
  if (channels !== 1 && channels !== 3) {
    throw new ImageError(`${where}: image must have 1 or 3 channels, received ${String(channels)}`);
  }
  const expected = width * height * channels;
  if (!(data instanceof Uint8Array)) {
    throw new ImageError(`${where}: image data must be a Uint8Array of HWC bytes, received ${describeValue(data)}`);
  }
  if (data.length !== expected) {
    throw new ImageError(`${where}: image data holds ${data.length} bytes, expected ${width}×${height}×${channels} = ${expected}`);
  }
}

/** @throws OptionError when `value` is not a positive integer. */
export function checkSize(value: number, name: string, where: string): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new OptionError(`${where}: ${name} must be a positive integer, received ${String(value)}`, { option: name.split(' ')[0]! });
  }
}

/** Python's `round` (ties to even), which torchvision's crop arithmetic uses. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// ---------------------------------------------------------------------------------------------
// Geometry

/**
 * The integer rectangle `box` of `img`; parts outside the image are filled with `fill`.
 * @param fill pixel value outside the image; default 0.
 */
export function crop(img: RgbImage, box: Box, fill = 0): RgbImage {
  checkImage(img, 'crop');
  const { top, left, height, width } = box;
  const c = img.channels;
  const out = new Uint8Array(width * height * c);
  if (fill !== 0) out.fill(fill);
  const x0 = Math.max(0, left);
  const x1 = Math.min(img.width, left + width);
  if (x1 > x0) {
    for (let y = Math.max(0, top); y < Math.min(img.height, top + height); y++) {
      const src = (y * img.width + x0) * c;
      out.set(img.data.subarray(src, src + (x1 - x0) * c), ((y - top) * width + (x0 - left)) * c);
    }
  }
  return { width, height, channels: img.channels, data: out };
}

/** `img` with `padding` pixels of `fill` (default 0) on every side. */
export function pad(img: RgbImage, padding: number, fill = 0): RgbImage {
  return crop(img, { top: -padding, left: -padding, height: img.height + 2 * padding, width: img.width + 2 * padding }, fill);
}

/** The mirror image (left ↔ right). */
export function hflip(img: RgbImage): RgbImage {
  checkImage(img, 'hflip');
  const { width: w, height: h, channels: c } = img;
  const out = new Uint8Array(img.data.length);
  for (let y = 0; y < h; y++) {
    const row = y * w * c;
    for (let x = 0; x < w; x++) {
      const s = row + x * c;
      const d = row + (w - 1 - x) * c;
      for (let k = 0; k < c; k++) out[d + k] = img.data[s + k] as number;
    }
  }
  return { width: w, height: h, channels: c, data: out };
}

/** Top-left offset of a `crop` window on a `size` axis, negative where torchvision pads. */
function cropOffset(size: number, crop: number): number {
  // torchvision pads (crop − size) // 2 before and the rest after, then crops at 0;
  // otherwise it crops at int(round((size − crop) / 2.0)).
  return crop > size ? -Math.floor((crop - size) / 2) : roundHalfEven((size - crop) / 2);
}

/**
 * torchvision `CenterCrop(size)`: a `size` × `size` (or `[height, width]`) window at
 * `int(round((h − ch) / 2.0))`, `int(round((w − cw) / 2.0))` (round half to even, as Python);
 * where the crop is larger than the image, the image is first padded with zeros
 * (`(c − s) // 2` before, the rest after), as torchvision does. Returns a new image.
 */
export function centerCrop(img: RgbImage, size: Size): RgbImage {
  checkImage(img, 'centerCrop');
  return crop(img, centerCropBox(img.width, img.height, size));
}

/** The window `centerCrop(size)` takes from a `width` × `height` image (negative offsets where it pads). */
export function centerCropBox(width: number, height: number, size: Size): Box {
  const [ch, cw] = sizeHW(size);
  checkSize(ch, 'crop height', 'centerCrop');
  checkSize(cw, 'crop width', 'centerCrop');
  return { top: cropOffset(height, ch), left: cropOffset(width, cw), height: ch, width: cw };
}

// ---------------------------------------------------------------------------------------------
// Channels

/** PIL's `convert('L')` luma (ITU-R 601-2, 299/587/114 in 16-bit fixed point, rounded). */
function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
}

/**
 * Converts to 1 or 3 channels: RGB → greyscale as PIL's `convert('L')`
 * (L = R·299/1000 + G·587/1000 + B·114/1000, rounded), greyscale → RGB by replication as
 * `convert('RGB')`. Returns `img` itself when it already has `channels`.
 */
export function toChannels(img: RgbImage, channels: 1 | 3): RgbImage {
  checkImage(img, 'toChannels');
  if (channels !== 1 && channels !== 3) {
    throw new OptionError(`toChannels: channels must be 1 or 3, received ${String(channels)}`, { option: 'channels' });
  }
  if (img.channels === channels) return img;
  const n = img.width * img.height;
  const src = img.data;
  const out = new Uint8Array(n * channels);
  if (channels === 3) {
    for (let i = 0; i < n; i++) out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = src[i] as number;
  } else {
    for (let i = 0; i < n; i++) out[i] = luma(src[i * 3] as number, src[i * 3 + 1] as number, src[i * 3 + 2] as number);
  }
  return { width: img.width, height: img.height, channels, data: out };
}
