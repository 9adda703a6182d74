/**
 * Resampling: Pillow's separable convolution resampler (`ImagingResample`), BILINEAR filter,
 * byte for byte, including `Image.resize`'s `box` (a source region with fractional coordinates).
 * The one resampler of the project: torchvision's `Resize` at inference and evaluation, and the
 * training transforms' resize and Inception crop, all go through `resize` here.
 *
 * For each output pixel the triangle filter, widened by the downscale factor (antialiasing), is
 * sampled at the input pixel centres inside its support, normalised to sum 1, then turned into
 * 22-bit fixed point. Each pass accumulates in integers from a 0.5 rounding offset and keeps the
 * top bits, clamped to 0…255; the horizontal pass runs first and its result is stored as uint8.
 */
import { OptionError } from '../errors.js';
import { getLimits, raiseHint } from '../limits.js';
import { checkImage, checkSize, crop, type Box, type RgbImage } from './image.js';

/** Fixed-point precision of the coefficients: 32 bits − 8 for the pixel − 2 for overflow. */
const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

/** Triangle (tent) filter; support 1. */
function triangle(x: number): number {
  const a = x < 0 ? -x : x;
  return a < 1 ? 1 - a : 0;
}

/** Per output index: first input index, number of taps, and `ksize` fixed-point weights. */
interface Coefficients {
  ksize: number;
  /** [first, count] per output index. */
  bounds: Int32Array;
  /** outSize × ksize weights in 2^-22 units. */
  weights: Int32Array;
}

/**
 * The filter taps mapping the input range [in0, in1) of an `inSize` axis onto `outSize`
 * samples: Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc`.
 */
function coefficients(inSize: number, in0: number, in1: number, outSize: number): Coefficients {
  // in0 and in1 are C floats in Pillow, and so is their difference.
  const scale = Math.fround(in1 - in0) / outSize;
  const filterScale = scale < 1 ? 1 : scale;
  const support = 1 * filterScale; // triangle support × widening
  const invFilterScale = 1 / filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let o = 0; o < outSize; o++) {
    const center = in0 + (o + 0.5) * scale;
    // Both ends are rounded by truncation of (v + 0.5), as C's (int) cast does.
    let first = Math.trunc(center - support + 0.5);
    if (first < 0) first = 0;
    let last = Math.trunc(center + support + 0.5);
    if (last > inSize) last = inSize;
    const count = last - first;
    let sum = 0;
    for (let i = 0; i < count; i++) {
      const v = triangle((i + first - center + 0.5) * invFilterScale);
      w[i] = v;
      sum += v;
    }
    for (let i = 0; i < count; i++) {
      const k = sum !== 0 ? (w[i] as number) / sum : (w[i] as number);
      // Round half away from zero to fixed point.
      weights[o * ksize + i] = k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
    }
    bounds[o * 2] = first;
    bounds[o * 2 + 1] = count;
  }
  return { ksize, bounds, weights };
}

/** Accumulator (value × 2^22 + 2^21) → uint8, clamped. */
function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Horizontal pass over input rows [row0, row0 + rows): → outW × rows × c. */
function resampleRows(src: Uint8Array, inW: number, c: number, row0: number, rows: number, outW: number, co: Coefficients): Uint8Array {
  const out = new Uint8Array(outW * rows * c);
  const { ksize, bounds, weights } = co;
  for (let y = 0; y < rows; y++) {
    const inRow = (row0 + y) * inW * c;
    const outRow = y * outW * c;
    for (let x = 0; x < outW; x++) {
      const first = bounds[x * 2] as number;
      const count = bounds[x * 2 + 1] as number;
      const kOff = x * ksize;
      for (let ch = 0; ch < c; ch++) {
        let acc = HALF;
        let p = inRow + first * c + ch;
        for (let i = 0; i < count; i++, p += c) acc += (src[p] as number) * (weights[kOff + i] as number);
        out[outRow + x * c + ch] = clip8(acc);
      }
    }
  }
  return out;
}

/** Vertical pass: rows × w × c → outH × w × c; `bounds` index input rows, `src` starts at row `row0`. */
function resampleColumns(src: Uint8Array, w: number, c: number, row0: number, outH: number, co: Coefficients): Uint8Array {
  const out = new Uint8Array(w * outH * c);
  const { ksize, bounds, weights } = co;
  const stride = w * c;
  for (let y = 0; y < outH; y++) {
    const first = (bounds[y * 2] as number) - row0;
    const count = bounds[y * 2 + 1] as number;
    const kOff = y * ksize;
    const outRow = y * stride;
    for (let j = 0; j < stride; j++) {
      let acc = HALF;
      let p = first * stride + j;
      for (let i = 0; i < count; i++, p += stride) acc += (src[p] as number) * (weights[kOff + i] as number);
      out[outRow + j] = clip8(acc);
    }
  }
  return out;
}

/**
 * The source region's edges [left, top, right, bottom] as Pillow holds them: parsed into C
 * floats (float32), then checked to lie inside the image with a non-negative size.
 */
function boxEdges(img: RgbImage, box: Box | undefined): [number, number, number, number] {
  if (!box) return [0, 0, img.width, img.height];
  const f = Math.fround;
  const { top, left, height, width } = box;
  const [x0, y0, x1, y1] = [f(left), f(top), f(left + width), f(top + height)];
  if (![x0, y0, x1, y1].every(Number.isFinite) || x0 < 0 || y0 < 0 || x1 > img.width || y1 > img.height || x1 < x0 || y1 < y0) {
    const got = `top ${top}, left ${left}, height ${height}, width ${width}`;
    throw new OptionError(`resize: box must lie inside the ${img.width}×${img.height} image with a non-negative size, received ${got}`, {
      option: 'box',
    });
  }
  return [x0, y0, x1, y1];
}

/**
 * Resizes to exactly `width` × `height` with antialiased bilinear resampling, reproducing
 * Pillow's `Image.resize((width, height), Image.BILINEAR, box)` (what torchvision's `Resize` does
 * on PIL images) byte for byte: horizontal pass, uint8 rounding, vertical pass.
 * @param box the source region, fractional coordinates allowed (rounded to float32, as Pillow
 *   stores them); default the whole image. As in Pillow, the filter may read pixels just outside
 *   the box; `crop` first for torchvision's `resized_crop`, which ignores them.
 * @returns a new image (a copy when nothing changes).
 */
export function resize(img: RgbImage, width: number, height: number, box?: Box): RgbImage {
  checkImage(img, 'resize');
  checkSize(width, 'width', 'resize');
  checkSize(height, 'height', 'resize');
  // Checked before allocating: `--resize 1e9` would otherwise ask for petabytes.
  if (width * height > getLimits().maxImagePixels)
    throw new OptionError(`resize: a ${width}×${height} result is more pixels than ${raiseHint('maxImagePixels')}`, { option: 'width' });
  const c = img.channels;
  const [x0, y0, x1, y1] = boxEdges(img, box);
  // Pillow crops instead when the box is whole pixels of the output's size.
  if (Number.isInteger(x0) && Number.isInteger(y0) && x1 - x0 === width && y1 - y0 === height)
    return crop(img, { top: y0, left: x0, height, width });
  const needH = width !== img.width || x0 !== 0 || x1 !== width;
  const needV = height !== img.height || y0 !== 0 || y1 !== height;

  const vert = coefficients(img.height, y0, y1, height);
  // Only the input rows the vertical pass reads need the horizontal pass.
  const rowFirst = vert.bounds[0] as number;
  const rowLast = (vert.bounds[(height - 1) * 2] as number) + (vert.bounds[(height - 1) * 2 + 1] as number);

  let data = img.data;
  let row0 = 0;
  if (needH) {
    // H×W×C → (rowLast − rowFirst)×width×C
    data = resampleRows(img.data, img.width, c, rowFirst, rowLast - rowFirst, width, coefficients(img.width, x0, x1, width));
    row0 = rowFirst;
  }
  if (needV) {
    // rows×width×C → height×width×C
    data = resampleColumns(data, width, c, row0, height, vert);
  }
  return { width, height, channels: c, data }; // needH or needV holds after the crop shortcut
}

/**
 * The size torchvision's `Resize(size)` (an int) gives a `width` × `height` image: the shorter
 * side becomes `size`, the longer `int(size * long / short)` (truncated), aspect kept.
 */
export function shorterSideSize(width: number, height: number, size: number): { width: number; height: number } {
  checkSize(size, 'size', 'resizeShorter');
  const portrait = width <= height;
  const short = portrait ? width : height;
  const long = portrait ? height : width;
  const newLong = Math.trunc((size * long) / short);
  return portrait ? { width: size, height: newLong } : { width: newLong, height: size };
}

/** torchvision `Resize(size)` with an int `size`: shorter side to `size`, bilinear as `resize`. */
export function resizeShorter(img: RgbImage, size: number): RgbImage {
  checkImage(img, 'resizeShorter');
  const out = shorterSideSize(img.width, img.height, size);
  return resize(img, out.width, out.height);
}
