/**
 * torchvision's `ToTensor()` + `Normalize(mean, std)`: HWC uint8 → CHW float32
 * `(x/255 − mean)/std`, computed in float32 step by step as PyTorch does, through one 256-entry
 * table per channel (`normalizationTable`). The one normalisation of the project: inference
 * (`toTensor`), evaluation (`normalizeInto`) and the training pipeline's fused loop all use it.
 */
import { OptionError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { checkImage, toChannels, type RgbImage } from './image.js';

/** torchvision's ImageNet channel means (RGB), for `Normalize` after `ToTensor`. */
export const IMAGENET_MEAN: readonly number[] = Object.freeze([0.485, 0.456, 0.406]);
/** torchvision's ImageNet channel standard deviations (RGB). */
export const IMAGENET_STD: readonly number[] = Object.freeze([0.229, 0.224, 0.225]);
/** Default normalisation of 1-channel tensors: maps [0, 1] to [−1, 1]. */
const GREY_MEAN: readonly number[] = Object.freeze([0.5]);
const GREY_STD: readonly number[] = Object.freeze([0.5]);

/**
 * `table[c * 256 + v]` = float32 `(float32(v/255) − mean[c]) / std[c]` for each of the
 * `mean.length` channels (`mean` and `std` have one value per channel, already checked).
 */
export function normalizationTable(mean: readonly number[], std: readonly number[]): Float32Array {
  const f = Math.fround;
  const c = mean.length;
  const table = new Float32Array(256 * c);
  for (let ch = 0; ch < c; ch++) {
    const m = f(mean[ch] as number);
    const s = f(std[ch] as number);
    for (let v = 0; v < 256; v++) table[ch * 256 + v] = f(f(f(v / 255) - m) / s);
  }
  return table;
}

/** Writes `img` (HWC) through `table` (see `normalizationTable`) as C×H×W floats at `offset`. */
function writeCHW(img: RgbImage, table: Float32Array, out: Float32Array, offset: number): void {
  const c = img.channels;
  const plane = img.width * img.height;
  const data = img.data;
  for (let ch = 0; ch < c; ch++) {
    const base = ch * 256;
    const o = offset + ch * plane;
    for (let i = 0; i < plane; i++) out[o + i] = table[base + (data[i * c + ch] as number)] as number;
  }
}

/**
 * Writes (pixel/255 − mean[c]) / std[c] as C×H×W float32 into `out` at `offset`.
 * `mean`/`std` have one entry per channel (or one entry, used for every channel).
 */
export function normalizeInto(img: RgbImage, mean: readonly number[], std: readonly number[], out: Float32Array, offset = 0): void {
  checkImage(img, 'normalize');
  const c = img.channels;
  const n = img.width * img.height;
  if ((mean.length !== c && mean.length !== 1) || (std.length !== c && std.length !== 1)) {
    throw new OptionError(
      `normalize: mean/std need ${c} value${c === 1 ? '' : 's'} for a ${c}-channel image, got mean [${mean.join(', ')}], std [${std.join(', ')}]`,
      { option: 'mean' },
    );
  }
  if (offset + c * n > out.length)
    throw new OptionError(`normalize: output has ${out.length} floats, needs ${offset + c * n}`, { option: 'out' });
  const each = (v: readonly number[]): number[] => Array.from({ length: c }, (_, i) => (v.length === 1 ? v[0] : v[i]) as number);
  writeCHW(img, normalizationTable(each(mean), each(std)), out, offset);
}

/** (pixel/255 − mean) / std as a new C×H×W Float32Array. */
export function normalize(img: RgbImage, mean: readonly number[], std: readonly number[]): Float32Array {
  const out = new Float32Array(img.width * img.height * img.channels);
  normalizeInto(img, mean, std, out, 0);
  return out;
}

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
      { option: name },
    );
  }
  for (const v of values) {
    if (!Number.isFinite(v) || (name === 'std' && v === 0)) {
      throw new OptionError(
        `toTensor: ${name} values must be finite${name === 'std' ? ' and non-zero' : ''}, received [${values.join(', ')}]`,
        { option: name },
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
  const out = new Float32Array(src.width * src.height * c);
  writeCHW(src, normalizationTable(mean, std), out, 0); // H×W×C → C×H×W
  return { dims: [c, src.height, src.width], data: out };
}
