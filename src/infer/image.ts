/**
 * Image preprocessing for inference and training, byte-for-byte the torchvision pipeline on PIL
 * images: `Resize` (Pillow's antialiased bilinear resampling), `CenterCrop`, `ToTensor`,
 * `Normalize`. Runtime-agnostic: pure functions of their inputs, no Node imports, so the same
 * code runs in the browser. Decoding files is in `decode-node.ts`.
 *
 * Images are 8-bit, HWC (row-major, channels interleaved), 1 (greyscale, PIL mode `L`) or
 * 3 (RGB) channels; tensors are CHW / NCHW float32.
 */
import { ImageError, OptionError } from '../errors.js';
import type { Tensor } from '../tensor.js';

/** A decoded 8-bit image: `data[(y * width + x) * channels + c]` (HWC). */
export interface RgbImage {
  width: number;
  height: number;
  /** 1 = greyscale (PIL `L`), 3 = RGB. */
  channels: 1 | 3;
  /** width × height × channels bytes, HWC. */
  data: Uint8Array;
}

/** torchvision's ImageNet channel means (RGB), for `Normalize` after `ToTensor`. */
export const IMAGENET_MEAN: readonly number[] = Object.freeze([0.485, 0.456, 0.406]);
/** torchvision's ImageNet channel standard deviations (RGB). */
export const IMAGENET_STD: readonly number[] = Object.freeze([0.229, 0.224, 0.225]);
/** Default normalisation of 1-channel tensors: maps [0, 1] to [−1, 1]. */
const GREY_MEAN: readonly number[] = Object.freeze([0.5]);
const GREY_STD: readonly number[] = Object.freeze([0.5]);

// ---------------------------------------------------------------------------------------------
// Validation

function checkImage(img: RgbImage, where: string): void {
  const { width, height, channels, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageError(`${where}: image size must be positive integers, received ${width}×${height}`);
  }
  if (channels !== 1 && channels !== 3) {
    throw new ImageError(`${where}: image must have 1 or 3 channels, received ${String(channels)}`);
  }
  const expected = width * height * channels;
  if (data.length !== expected) {
    throw new ImageError(`${where}: image data holds ${data.length} bytes, expected ${width}×${height}×${channels} = ${expected}`);
  }
}

function checkSize(value: number, name: string, where: string): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new OptionError(`${where}: ${name} must be a positive integer, received ${String(value)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Resize: Pillow's separable convolution resampler (ImagingResample), BILINEAR filter.
//
// For each output pixel the triangle filter, widened by the downscale factor (antialiasing), is
// sampled at the input pixel centres inside its support, normalised to sum 1, then turned into
// 22-bit fixed point. Each pass accumulates in integers from a 0.5 rounding offset and keeps the
// top bits, clamped to 0…255; the horizontal pass runs first and its result is stored as uint8.

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

/** The filter taps mapping `inSize` samples onto `outSize` (Pillow's precompute + normalise). */
function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = scale < 1 ? 1 : scale;
  const support = 1 * filterScale; // triangle support × widening
  const invFilterScale = 1 / filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
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
 * Resizes to exactly `width` × `height` with antialiased bilinear resampling, reproducing
 * Pillow's `Image.resize((width, height), Image.BILINEAR)` (what torchvision's `Resize` does on
 * PIL images) byte for byte: horizontal pass, uint8 rounding, vertical pass.
 * Returns a new image (a copy when the size is unchanged).
 */
export function resize(img: RgbImage, width: number, height: number): RgbImage {
  checkImage(img, 'resize');
  checkSize(width, 'width', 'resize');
  checkSize(height, 'height', 'resize');
  const c = img.channels;
  const needH = width !== img.width;
  const needV = height !== img.height;
  if (!needH && !needV) return { width, height, channels: c, data: img.data.slice() };

  const vert = coefficients(img.height, height);
  // Only the input rows the vertical pass reads need the horizontal pass.
  const rowFirst = vert.bounds[0] as number;
  const rowLast = (vert.bounds[(height - 1) * 2] as number) + (vert.bounds[(height - 1) * 2 + 1] as number);

  let data = img.data;
  let row0 = 0;
  if (needH) {
    // H×W×C → (rowLast − rowFirst)×width×C
    data = resampleRows(img.data, img.width, c, rowFirst, rowLast - rowFirst, width, coefficients(img.width, width));
    row0 = rowFirst;
  }
  if (needV) {
    // rows×width×C → height×width×C
    data = resampleColumns(data, width, c, row0, height, vert);
  }
  return { width, height, channels: c, data };
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

// ---------------------------------------------------------------------------------------------
// Center crop

/** Python's `round()`: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
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
 * (`(c − s) // 2` before, the rest after), as torchvision does.
 */
export function centerCrop(img: RgbImage, size: number | readonly [height: number, width: number]): RgbImage {
  checkImage(img, 'centerCrop');
  const [ch, cw] = typeof size === 'number' ? [size, size] : size;
  checkSize(ch, 'crop height', 'centerCrop');
  checkSize(cw, 'crop width', 'centerCrop');
  const { width, height, channels: c, data } = img;
  const top = cropOffset(height, ch);
  const left = cropOffset(width, cw);
  const out = new Uint8Array(ch * cw * c); // zeros where outside the image
  const x0 = Math.max(0, -left);
  const x1 = Math.min(cw, width - left);
  for (let y = 0; y < ch; y++) {
    const sy = y + top;
    if (sy < 0 || sy >= height || x1 <= x0) continue;
    const from = (sy * width + left + x0) * c;
    out.set(data.subarray(from, from + (x1 - x0) * c), (y * cw + x0) * c);
  }
  return { width: cw, height: ch, channels: c, data: out };
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
    throw new OptionError(`toChannels: channels must be 1 or 3, received ${String(channels)}`);
  }
  if (img.channels === channels) return img;
  const n = img.width * img.height;
  const src = img.data;
  const out = new Uint8Array(n * channels);
  if (channels === 3) {
    for (let i = 0; i < n; i++) {
      const v = src[i] as number;
      out[i * 3] = v;
      out[i * 3 + 1] = v;
      out[i * 3 + 2] = v;
    }
  } else {
    for (let i = 0; i < n; i++) {
      out[i] = luma(src[i * 3] as number, src[i * 3 + 1] as number, src[i * 3 + 2] as number);
    }
  }
  return { width: img.width, height: img.height, channels, data: out };
}

// ---------------------------------------------------------------------------------------------
// To tensor

/** Options of `toTensor`. */
export interface ToTensorOptions {
  /**
   * Per-channel mean subtracted after scaling to [0, 1]; one value is used for every channel.
   * Default: `IMAGENET_MEAN` for 3 output channels, `[0.5]` for 1.
   */
  mean?: readonly number[];
  /**
   * Per-channel standard deviation divided by; one value is used for every channel.
   * Default: `IMAGENET_STD` for 3 output channels, `[0.5]` for 1.
   */
  std?: readonly number[];
  /**
   * Output channels: 3 replicates a greyscale image, 1 converts RGB with PIL's `convert('L')`.
   * Default: the image's own channel count.
   */
  channels?: 1 | 3;
}

function perChannel(values: readonly number[], c: number, name: string): number[] {
  if (values.length !== 1 && values.length !== c) {
    throw new OptionError(
      `toTensor: ${name} has ${values.length} values for a ${c}-channel tensor; give ${c === 1 ? '1 value' : `1 or ${c}`}, received [${values.join(', ')}]`,
    );
  }
  for (const v of values) {
    if (!Number.isFinite(v) || (name === 'std' && v === 0)) {
      throw new OptionError(
        `toTensor: ${name} values must be finite${name === 'std' ? ' and non-zero' : ''}, received [${values.join(', ')}]`,
      );
    }
  }
  return Array.from({ length: c }, (_, i) => (values.length === 1 ? values[0] : values[i]) as number);
}

/**
 * torchvision `ToTensor()` + `Normalize(mean, std)`: HWC uint8 → CHW float32 `(x/255 − mean)/std`,
 * computed in float32 step by step as PyTorch does. Returns dims [C, H, W].
 */
export function toTensor(img: RgbImage, options: ToTensorOptions = {}): Tensor {
  checkImage(img, 'toTensor');
  const src = toChannels(img, options.channels ?? img.channels);
  const c = src.channels;
  const mean = perChannel(options.mean ?? (c === 3 ? IMAGENET_MEAN : GREY_MEAN), c, 'mean');
  const std = perChannel(options.std ?? (c === 3 ? IMAGENET_STD : GREY_STD), c, 'std');
  const f = Math.fround;
  // One 256-entry table per channel: float32 x/255, minus float32 mean, over float32 std.
  const lut = new Float32Array(256 * c);
  for (let ch = 0; ch < c; ch++) {
    const m = f(mean[ch] as number);
    const s = f(std[ch] as number);
    for (let v = 0; v < 256; v++) lut[ch * 256 + v] = f(f(f(v / 255) - m) / s);
  }
  const plane = src.width * src.height;
  const out = new Float32Array(plane * c);
  const data = src.data;
  // H×W×C → C×H×W
  for (let ch = 0; ch < c; ch++) {
    const base = ch * 256;
    const o = ch * plane;
    for (let i = 0; i < plane; i++) out[o + i] = lut[base + (data[i * c + ch] as number)] as number;
  }
  return { dims: [c, src.height, src.width], data: out };
}

// ---------------------------------------------------------------------------------------------
// The whole pipeline

/** Options of `preprocess`; the defaults are torchvision's ImageNet evaluation transform. */
export interface PreprocessOptions {
  /** Shorter side after `Resize(resize)`. Default: 256. */
  resize?: number;
  /** Side of the square `CenterCrop(crop)`. Default: 224. */
  crop?: number;
  /** Normalisation mean. Default: `IMAGENET_MEAN` (3 channels), `[0.5]` (1 channel). */
  mean?: readonly number[];
  /** Normalisation standard deviation. Default: `IMAGENET_STD` (3 channels), `[0.5]` (1 channel). */
  std?: readonly number[];
  /** Channels the model takes; converted first, as `convert('RGB')` / `convert('L')`. Default: 3. */
  channels?: 1 | 3;
}

const PREPROCESS_DEFAULTS = { resize: 256, crop: 224, channels: 3 } as const;

/**
 * torchvision's evaluation transform on a decoded image:
 * `convert(mode)` → `Resize(resize)` → `CenterCrop(crop)` → `ToTensor()` → `Normalize(mean, std)`.
 * Returns dims [1, C, crop, crop].
 */
export function preprocess(img: RgbImage, options: PreprocessOptions = {}): Tensor {
  const resizeTo = options.resize ?? PREPROCESS_DEFAULTS.resize;
  const crop = options.crop ?? PREPROCESS_DEFAULTS.crop;
  const channels = options.channels ?? PREPROCESS_DEFAULTS.channels;
  checkSize(resizeTo, 'resize', 'preprocess');
  checkSize(crop, 'crop', 'preprocess');
  if (channels !== 1 && channels !== 3) {
    throw new OptionError(`preprocess: channels must be 1 or 3, received ${String(channels)}`);
  }
  const converted = toChannels(img, channels); // H×W×c → H×W×C
  const cropped = centerCrop(resizeShorter(converted, resizeTo), crop); // → crop×crop×C
  const t = toTensor(cropped, {
    ...(options.mean ? { mean: options.mean } : {}),
    ...(options.std ? { std: options.std } : {}),
  }); // C×crop×crop
  return { dims: [1, ...t.dims], data: t.data };
}

/**
 * Stacks same-shaped [C, H, W] or [1, C, H, W] tensors into one [N, C, H, W] batch.
 */
export function stackBatch(tensors: readonly Tensor[]): Tensor {
  if (tensors.length === 0) throw new OptionError('stackBatch: no tensors to stack');
  const shapeOf = (t: Tensor, i: number): number[] => {
    if (t.dims.length === 3) return t.dims;
    if (t.dims.length === 4 && t.dims[0] === 1) return t.dims.slice(1);
    throw new OptionError(`stackBatch: tensor ${i} has dims [${t.dims.join(', ')}], expected [C, H, W] or [1, C, H, W]`);
  };
  const shape = shapeOf(tensors[0] as Tensor, 0);
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size * tensors.length);
  tensors.forEach((t, i) => {
    const s = shapeOf(t, i);
    if (s.join() !== shape.join()) {
      throw new OptionError(`stackBatch: tensor ${i} has shape [${s.join(', ')}], tensor 0 has [${shape.join(', ')}]`);
    }
    if (t.data.length !== size) {
      throw new OptionError(`stackBatch: tensor ${i} holds ${t.data.length} values, its dims need ${size}`);
    }
    out.set(t.data, i * size);
  });
  return { dims: [tensors.length, ...shape], data: out };
}
