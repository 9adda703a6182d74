/**
 * Image transforms: pure functions of (image, parameters, rng) on HWC uint8 images, ending in
 * `normalize` → CHW float32. None of them writes into its input; randomness comes only from the
 * `Rng` passed in, so a sample's augmentation is a pure function of (seed, epoch, index).
 *
 * Semantics follow torchvision's (tensor backend): `RandomCrop(size, padding)`,
 * `RandomHorizontalFlip`, `RandomResizedCrop` (the Inception crop, with its 10-attempt fallback),
 * `ColorJitter` (brightness, contrast, saturation; uint8 truncation after each step), `Resize`
 * (an int resizes the shorter side), `CenterCrop`, `Normalize`. `resize` is a separable bilinear
 * (triangle) filter widened when downscaling, i.e. antialiased like PIL's `Image.resize(BILINEAR)`.
 *
 * `TransformPipeline` strings them together from a plain config object that a checkpoint stores.
 */
import { OptionError } from '../errors.js';
import type { DatasetInfo, RawImage } from './core.js';
import type { Rng } from '../rng.js';

/** A rectangle in pixel coordinates (may be fractional for `resize`'s `box`). */
export interface Box {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** A size: one number for a square (or, for `resize`, the shorter side), or `[height, width]`. */
export type Size = number | readonly [number, number];

/** Python's `round` (ties to even), which torchvision's crop arithmetic uses. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function hw(size: Size): [number, number] {
  return typeof size === 'number' ? [size, size] : [size[0], size[1]];
}

function checkImage(img: RawImage, fn: string): void {
  if (img.data.length !== img.width * img.height * img.channels) {
    throw new RangeError(`${fn}: ${img.data.length} bytes do not hold a ${img.height}×${img.width}×${img.channels} image`);
  }
}

/**
 * The integer rectangle `box` of `img`; parts outside the image are filled with `fill`.
 * @param fill pixel value outside the image; default 0.
 */
export function crop(img: RawImage, box: Box, fill = 0): RawImage {
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
export function pad(img: RawImage, padding: number, fill = 0): RawImage {
  return crop(img, { top: -padding, left: -padding, height: img.height + 2 * padding, width: img.width + 2 * padding }, fill);
}

/**
 * torchvision `RandomCrop(size, padding)`: pads by `padding` (with `fill`), then crops `size` at a
 * uniformly random position (draws: top, then left).
 * @param padding pixels added on each side before cropping; default 0.
 * @param fill padding value; default 0.
 */
export function randomCrop(img: RawImage, size: Size, padding: number, rng: Rng, fill = 0): RawImage {
  const [th, tw] = hw(size);
  const H = img.height + 2 * padding;
  const W = img.width + 2 * padding;
  if (th > H || tw > W) throw new OptionError(`randomCrop: crop ${th}×${tw} is larger than the padded image ${H}×${W}`);
  const i = rng.int(H - th + 1);
  const j = rng.int(W - tw + 1);
  return crop(img, { top: i - padding, left: j - padding, height: th, width: tw }, fill);
}

/** The mirror image (left ↔ right). */
export function hflip(img: RawImage): RawImage {
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

/** Flips with probability `p` (default 0.5); always draws once. */
export function randomHflip(img: RawImage, rng: Rng, p = 0.5): RawImage {
  return rng.float() < p ? hflip(img) : img;
}

interface Coeffs {
  /** First input index of each output's window. */
  start: Int32Array;
  /** Window length of each output. */
  count: Int32Array;
  /** outSize × k weights, normalized to sum 1. */
  weights: Float64Array;
  k: number;
}

/** PIL's `precompute_coeffs` for the bilinear (triangle) filter over input range [in0, in1). */
function bilinearCoeffs(inSize: number, in0: number, in1: number, outSize: number): Coeffs {
  const scale = (in1 - in0) / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // triangle support 1, widened when downscaling (antialias)
  const k = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * k);
  const ss = 1 / filterScale;
  for (let o = 0; o < outSize; o++) {
    const center = in0 + (o + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax && x < k; x++) {
      const w = Math.max(0, 1 - Math.abs((x + xmin - center + 0.5) * ss));
      weights[o * k + x] = w;
      sum += w;
    }
    const n = Math.min(Math.max(xmax, 0), k);
    if (sum > 0) for (let x = 0; x < n; x++) weights[o * k + x] = (weights[o * k + x] as number) / sum;
    start[o] = xmin;
    count[o] = n;
  }
  return { start, count, weights, k };
}

/**
 * Resizes `img` (or the region `box` of it, fractional coordinates allowed) with a bilinear
 * filter, antialiased when shrinking.
 * @param size a number resizes the shorter side to it keeping the aspect ratio (torchvision
 *   `Resize(int)`: the longer side becomes ⌊size·long/short⌋); `[height, width]` is exact.
 * @param box the source region; default the whole image. As in PIL, the filter may read pixels
 *   just outside the box; crop first for torchvision's `resized_crop` semantics.
 */
export function resize(img: RawImage, size: Size, box?: Box): RawImage {
  checkImage(img, 'resize');
  const src: Box = box ?? { top: 0, left: 0, height: img.height, width: img.width };
  let oh: number;
  let ow: number;
  if (typeof size === 'number') {
    const short = Math.min(src.width, src.height);
    const long = Math.max(src.width, src.height);
    const newLong = Math.trunc((size * long) / short);
    [ow, oh] = src.width <= src.height ? [size, newLong] : [newLong, size];
  } else {
    [oh, ow] = [size[0], size[1]];
  }
  if (!(oh >= 1 && ow >= 1 && Number.isInteger(oh) && Number.isInteger(ow)))
    throw new OptionError(`resize: output size must be positive integers, got ${oh}×${ow}`);
  if (!box && oh === img.height && ow === img.width) return img;
  const c = img.channels;
  const hc = bilinearCoeffs(img.width, src.left, src.left + src.width, ow);
  const vc = bilinearCoeffs(img.height, src.top, src.top + src.height, oh);
  // Rows of the input the vertical pass needs.
  let y0 = img.height;
  let y1 = 0;
  for (let o = 0; o < oh; o++) {
    y0 = Math.min(y0, vc.start[o] as number);
    y1 = Math.max(y1, (vc.start[o] as number) + (vc.count[o] as number));
  }
  const rows = Math.max(0, y1 - y0);
  // Horizontal pass: rows × ow × c floats.
  const tmp = new Float32Array(rows * ow * c);
  for (let r = 0; r < rows; r++) {
    const inRow = (y0 + r) * img.width * c;
    const outRow = r * ow * c;
    for (let o = 0; o < ow; o++) {
      const s = hc.start[o] as number;
      const n = hc.count[o] as number;
      const wo = o * hc.k;
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let x = 0; x < n; x++) acc += (hc.weights[wo + x] as number) * (img.data[inRow + (s + x) * c + ch] as number);
        tmp[outRow + o * c + ch] = acc;
      }
    }
  }
  // Vertical pass → uint8 (rounded, clamped).
  const out = new Uint8Array(oh * ow * c);
  const rowLen = ow * c;
  for (let o = 0; o < oh; o++) {
    const s = (vc.start[o] as number) - y0;
    const n = vc.count[o] as number;
    const wo = o * vc.k;
    const dst = o * rowLen;
    for (let i = 0; i < rowLen; i++) {
      let acc = 0;
      for (let y = 0; y < n; y++) acc += (vc.weights[wo + y] as number) * (tmp[(s + y) * rowLen + i] as number);
      const v = Math.round(acc);
      out[dst + i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { width: ow, height: oh, channels: img.channels, data: out };
}

/** torchvision `CenterCrop(size)`: top = round((H − h)/2); an image smaller than `size` is padded with 0 first. */
export function centerCrop(img: RawImage, size: Size): RawImage {
  const [th, tw] = hw(size);
  const top = th > img.height ? -Math.floor((th - img.height) / 2) : roundHalfEven((img.height - th) / 2);
  const left = tw > img.width ? -Math.floor((tw - img.width) / 2) : roundHalfEven((img.width - tw) / 2);
  if (top === 0 && left === 0 && th === img.height && tw === img.width) return img;
  return crop(img, { top, left, height: th, width: tw });
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
export function inceptionCrop(img: RawImage, outSize: Size, rng: Rng, options: InceptionCropOptions = {}): RawImage {
  const box = inceptionCropParams(img.width, img.height, rng, options);
  return resize(crop(img, box), hw(outSize)); // crop, then resize (torchvision's resized_crop)
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
export function photometric(img: RawImage, rng: Rng, options: PhotometricOptions): RawImage {
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

/**
 * Greyscale handling: 1 → 3 replicates the channel; 3 → 1 is PIL's `convert('L')`
 * (ITU-R 601-2 luma, (19595 R + 38470 G + 7471 B + 2^15) >> 16).
 */
export function toChannels(img: RawImage, channels: 1 | 3): RawImage {
  if (img.channels === channels) return img;
  const n = img.width * img.height;
  if (channels === 3) {
    const out = new Uint8Array(n * 3);
    for (let p = 0; p < n; p++) out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = img.data[p] as number;
    return { width: img.width, height: img.height, channels: 3, data: out };
  }
  const out = new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    out[p] =
      (19595 * (img.data[3 * p] as number) + 38470 * (img.data[3 * p + 1] as number) + 7471 * (img.data[3 * p + 2] as number) + 0x8000) >>>
      16;
  }
  return { width: img.width, height: img.height, channels: 1, data: out };
}

/**
 * Writes (pixel/255 − mean[c]) / std[c] as C×H×W float32 into `out` at `offset`.
 * `mean`/`std` have one entry per channel (or one entry, used for every channel).
 */
export function normalizeInto(img: RawImage, mean: readonly number[], std: readonly number[], out: Float32Array, offset = 0): void {
  checkImage(img, 'normalize');
  const c = img.channels;
  const n = img.width * img.height;
  if ((mean.length !== c && mean.length !== 1) || (std.length !== c && std.length !== 1)) {
    throw new OptionError(
      `normalize: mean/std need ${c} value${c === 1 ? '' : 's'} for a ${c}-channel image, got mean [${mean.join(', ')}], std [${std.join(', ')}]`,
    );
  }
  if (offset + c * n > out.length) throw new RangeError(`normalize: output has ${out.length} floats, needs ${offset + c * n}`);
  for (let ch = 0; ch < c; ch++) {
    const m = (mean.length === 1 ? mean[0] : mean[ch]) as number;
    const s = (std.length === 1 ? std[0] : std[ch]) as number;
    const scale = 1 / (255 * s);
    const bias = -m / s;
    const base = offset + ch * n;
    for (let p = 0; p < n; p++) out[base + p] = (img.data[p * c + ch] as number) * scale + bias;
  }
}

/** (pixel/255 − mean) / std as a new C×H×W Float32Array. */
export function normalize(img: RawImage, mean: readonly number[], std: readonly number[]): Float32Array {
  const out = new Float32Array(img.width * img.height * img.channels);
  normalizeInto(img, mean, std, out, 0);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pipeline

/** A fully resolved pipeline description (JSON; a checkpoint stores it). */
export interface TransformConfig {
  /** Training (random augmentation) or evaluation (deterministic resize + centre crop). */
  train: boolean;
  /** Output height = width. */
  inputSize: number;
  /** Train, without Inception crop: zero padding before the random `inputSize` crop. */
  padding: number;
  /** Train: random horizontal flip with p = 0.5. */
  flip: boolean;
  /** Train: the Inception crop (replaces resize + random crop), or false. */
  inceptionCrop: false | { scale: [number, number]; ratio: [number, number] };
  /** Train: photometric distortion, or false. */
  photometric: false | { brightness: number; contrast: number; saturation: number };
  /** Output channels (greyscale is replicated to 3; RGB is converted to luma for 1). */
  channels: 1 | 3;
  /** Eval: the shorter side is resized to this before the centre `inputSize` crop. */
  resize: number;
  /** Normalization, one value per output channel. */
  mean: number[];
  std: number[];
}

/** What a caller sets; everything else is derived from the dataset by `resolveTransformConfig`. */
export interface TransformOptions {
  train: boolean;
  /** Default: the dataset's size when its samples are square and fixed-size, else 224. */
  inputSize?: number;
  /** Default 0. */
  padding?: number;
  /** Default: `train`. */
  flip?: boolean;
  /** true = scale [0.08, 1], ratio [3/4, 4/3]; default false. */
  inceptionCrop?: boolean | InceptionCropOptions;
  /** true = brightness/contrast/saturation 0.4; default false. */
  photometric?: boolean | PhotometricOptions;
  /** Default: the dataset's channels. */
  channels?: 1 | 3;
  /** Default: `inputSize` for fixed-size datasets, round(inputSize · 256/224) for image folders. */
  resize?: number;
  /** Default: the dataset's statistics, mapped to `channels`. */
  mean?: number[];
  std?: number[];
}

export const PHOTOMETRIC_DEFAULTS = { brightness: 0.4, contrast: 0.4, saturation: 0.4 } as const;

function mapStats(v: readonly number[], from: number, to: 1 | 3): number[] {
  if (v.length === to) return [...v];
  if (v.length === 1) return [v[0] as number, v[0] as number, v[0] as number].slice(0, to);
  if (from === 3 && to === 1) return [0.299 * (v[0] as number) + 0.587 * (v[1] as number) + 0.114 * (v[2] as number)];
  return [...v];
}

/**
 * Fills in a `TransformConfig` from options and the dataset's metadata.
 * @throws OptionError on an invalid value, saying what was received.
 */
export function resolveTransformConfig(
  options: TransformOptions,
  dataset: Pick<DatasetInfo, 'channels' | 'height' | 'width' | 'mean' | 'std'>,
): TransformConfig {
  const fixed = dataset.height !== null && dataset.width !== null && dataset.height === dataset.width ? dataset.height : null;
  const inputSize = options.inputSize ?? fixed ?? 224;
  const channels = options.channels ?? dataset.channels;
  const ic = options.inceptionCrop;
  const ph = options.photometric;
  const config: TransformConfig = {
    train: options.train,
    inputSize,
    padding: options.padding ?? 0,
    flip: options.flip ?? options.train,
    inceptionCrop: !ic
      ? false
      : ic === true
        ? { scale: [...INCEPTION_CROP_DEFAULTS.scale], ratio: [...INCEPTION_CROP_DEFAULTS.ratio] }
        : { scale: [...(ic.scale ?? INCEPTION_CROP_DEFAULTS.scale)], ratio: [...(ic.ratio ?? INCEPTION_CROP_DEFAULTS.ratio)] },
    photometric: !ph
      ? false
      : ph === true
        ? { ...PHOTOMETRIC_DEFAULTS }
        : { brightness: ph.brightness ?? 0, contrast: ph.contrast ?? 0, saturation: ph.saturation ?? 0 },
    channels,
    resize: options.resize ?? (dataset.height === null || dataset.width === null ? Math.round((inputSize * 256) / 224) : inputSize),
    mean: options.mean ? [...options.mean] : mapStats(dataset.mean, dataset.channels, channels),
    std: options.std ? [...options.std] : mapStats(dataset.std, dataset.channels, channels),
  };
  validateTransformConfig(config);
  return config;
}

/** @throws OptionError naming the first invalid field and the value received. */
export function validateTransformConfig(c: TransformConfig): void {
  const bad = (field: string, want: string, got: unknown): never => {
    throw new OptionError(`transform ${field} must be ${want}. Received: ${field}=${JSON.stringify(got)}`);
  };
  if (!Number.isInteger(c.inputSize) || c.inputSize < 1) bad('inputSize', 'a positive integer', c.inputSize);
  if (!Number.isInteger(c.padding) || c.padding < 0) bad('padding', 'a non-negative integer', c.padding);
  if (c.channels !== 1 && c.channels !== 3) bad('channels', '1 or 3', c.channels);
  if (!Number.isInteger(c.resize) || c.resize < c.inputSize) bad('resize', `an integer ≥ inputSize (${c.inputSize})`, c.resize);
  if (c.mean.length !== c.channels || !c.mean.every(Number.isFinite)) bad('mean', `${c.channels} finite number(s)`, c.mean);
  if (c.std.length !== c.channels || !c.std.every((s) => Number.isFinite(s) && s > 0))
    bad('std', `${c.channels} positive number(s)`, c.std);
  if (c.inceptionCrop) {
    const [s0, s1] = c.inceptionCrop.scale;
    const [r0, r1] = c.inceptionCrop.ratio;
    if (!(s0 > 0 && s0 <= s1 && s1 <= 1)) bad('inceptionCrop.scale', '[lo, hi] with 0 < lo ≤ hi ≤ 1', c.inceptionCrop.scale);
    if (!(r0 > 0 && r0 <= r1)) bad('inceptionCrop.ratio', '[lo, hi] with 0 < lo ≤ hi', c.inceptionCrop.ratio);
  }
  if (c.photometric) {
    for (const k of ['brightness', 'contrast', 'saturation'] as const) {
      const v = c.photometric[k];
      if (!(Number.isFinite(v) && v >= 0)) bad(`photometric.${k}`, 'a number ≥ 0', v);
    }
  }
}

/**
 * The per-sample transform, built from a `TransformConfig`.
 *
 * Train: Inception crop to inputSize² — or resize the shorter side to inputSize (if needed) +
 * random crop with padding — then flip, photometric distortion, channels, normalize.
 * Eval: resize the shorter side to `resize`, centre crop inputSize², channels, normalize.
 * Output: C×inputSize×inputSize float32.
 */
export class TransformPipeline {
  readonly config: TransformConfig;

  constructor(config: TransformConfig) {
    validateTransformConfig(config);
    this.config = structuredClone(config);
  }

  /** Resolves `options` against the dataset (see `resolveTransformConfig`). */
  static forDataset(
    dataset: Pick<DatasetInfo, 'channels' | 'height' | 'width' | 'mean' | 'std'>,
    options: TransformOptions,
  ): TransformPipeline {
    return new TransformPipeline(resolveTransformConfig(options, dataset));
  }

  /** [C, H, W] of one output sample. */
  get outputDims(): [number, number, number] {
    return [this.config.channels, this.config.inputSize, this.config.inputSize];
  }

  /** Floats per output sample. */
  get sampleSize(): number {
    return this.config.channels * this.config.inputSize * this.config.inputSize;
  }

  /**
   * Everything but the flip and the 1 → 3 channel replication, which `applyInto` fuses into the
   * normalization. The flip is drawn before the photometric factors (the reference order); it is
   * applied last, which gives the same pixels because the photometric operations and the
   * RGB → luma conversion commute with a mirror.
   */
  private augmentFused(img: RawImage, rng: Rng): { image: RawImage; flip: boolean } {
    const c = this.config;
    const S = c.inputSize;
    let im = img;
    let flip = false;
    if (c.train) {
      if (c.inceptionCrop) {
        im = inceptionCrop(im, S, rng, c.inceptionCrop);
      } else {
        if (Math.min(im.width, im.height) !== S) im = resize(im, S);
        if (c.padding > 0 || im.width !== S || im.height !== S) im = randomCrop(im, S, c.padding, rng);
      }
      if (c.flip) flip = rng.float() < 0.5; // = randomHflip's draw
      if (c.photometric) im = photometric(im, rng, c.photometric);
    } else {
      if (Math.min(im.width, im.height) !== c.resize) im = resize(im, c.resize);
      im = centerCrop(im, S);
    }
    if (c.channels === 1) im = toChannels(im, 1);
    return { image: im, flip };
  }

  /** The augmented image before normalization (HWC uint8, `channels` channels); `rng` is only used in training mode. */
  augment(img: RawImage, rng: Rng): RawImage {
    const { image, flip } = this.augmentFused(img, rng);
    return toChannels(flip ? hflip(image) : image, this.config.channels);
  }

  /** Transforms `img` into `out` (C×H×W floats at `offset`); equals `normalizeInto(augment(img, rng), mean, std, out, offset)`. */
  applyInto(img: RawImage, rng: Rng, out: Float32Array, offset = 0): void {
    const { image, flip } = this.augmentFused(img, rng);
    const { channels, mean, std } = this.config;
    const { width: w, height: h, channels: ic, data } = image;
    if (offset + channels * w * h > out.length)
      throw new RangeError(`TransformPipeline: output has ${out.length} floats, needs ${offset + channels * w * h}`);
    for (let ch = 0; ch < channels; ch++) {
      const scale = 1 / (255 * (std[ch] as number));
      const bias = -(mean[ch] as number) / (std[ch] as number);
      const src = ic === 1 ? 0 : ch;
      let o = offset + ch * w * h;
      for (let y = 0; y < h; y++) {
        const row = y * w;
        if (flip) for (let x = w - 1; x >= 0; x--) out[o++] = (data[(row + x) * ic + src] as number) * scale + bias;
        else for (let x = 0; x < w; x++) out[o++] = (data[(row + x) * ic + src] as number) * scale + bias;
      }
    }
  }

  /** Transforms `img` into a new C×H×W Float32Array. */
  apply(img: RawImage, rng: Rng): Float32Array {
    const out = new Float32Array(this.sampleSize);
    this.applyInto(img, rng, out, 0);
    return out;
  }

  toJSON(): TransformConfig {
    return structuredClone(this.config);
  }
}
