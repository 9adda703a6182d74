/**
 * The per-sample transform of the data loader: `TransformConfig` (the plain JSON a checkpoint
 * stores), how it is resolved from options and the dataset (`resolveTransformConfig`), and
 * `TransformPipeline`, which strings the augmentations of `augment.ts` and the pixel operations
 * of `../image/` together, ending in the normalisation → CHW float32.
 */
import { OptionError } from '../errors.js';
import { centerCrop, hflip, toChannels, type RgbImage } from '../image/image.js';
import { normalizationTable } from '../image/normalize.js';
import { resizeShorter } from '../image/resize.js';
import type { Rng } from '../rng.js';
import {
  INCEPTION_CROP_DEFAULTS,
  inceptionCrop,
  photometric,
  randomCrop,
  type InceptionCropOptions,
  type PhotometricOptions,
} from './augment.js';
import type { DatasetInfo } from './core.js';

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

const PHOTOMETRIC_DEFAULTS = { brightness: 0.4, contrast: 0.4, saturation: 0.4 } as const;

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
function validateTransformConfig(c: TransformConfig): void {
  const bad = (field: string, want: string, got: unknown): never => {
    throw new OptionError(`transform ${field} must be ${want}. Received: ${field}=${JSON.stringify(got)}`, { option: field });
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
  /** `normalizationTable(mean, std)`: the normalisation, built once. */
  private readonly table: Float32Array;

  constructor(config: TransformConfig) {
    validateTransformConfig(config);
    this.config = structuredClone(config);
    this.table = normalizationTable(this.config.mean, this.config.std);
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
  private augmentFused(img: RgbImage, rng: Rng): { image: RgbImage; flip: boolean } {
    const c = this.config;
    const S = c.inputSize;
    let im = img;
    let flip = false;
    if (c.train) {
      if (c.inceptionCrop) {
        im = inceptionCrop(im, S, rng, c.inceptionCrop);
      } else {
        if (Math.min(im.width, im.height) !== S) im = resizeShorter(im, S);
        if (c.padding > 0 || im.width !== S || im.height !== S) im = randomCrop(im, S, c.padding, rng);
      }
      if (c.flip) flip = rng.float() < 0.5; // = randomHflip's draw
      if (c.photometric) im = photometric(im, rng, c.photometric);
    } else {
      if (Math.min(im.width, im.height) !== c.resize) im = resizeShorter(im, c.resize);
      im = centerCrop(im, S);
    }
    if (c.channels === 1) im = toChannels(im, 1);
    return { image: im, flip };
  }

  /** The augmented image before normalization (HWC uint8, `channels` channels); `rng` is only used in training mode. */
  augment(img: RgbImage, rng: Rng): RgbImage {
    const { image, flip } = this.augmentFused(img, rng);
    return toChannels(flip ? hflip(image) : image, this.config.channels);
  }

  /** Transforms `img` into `out` (C×H×W floats at `offset`); equals `normalizeInto(augment(img, rng), mean, std, out, offset)`. */
  applyInto(img: RgbImage, rng: Rng, out: Float32Array, offset = 0): void {
    const { image, flip } = this.augmentFused(img, rng);
    const { channels } = this.config;
    const { width: w, height: h, channels: ic, data } = image;
    const table = this.table;
    if (offset + channels * w * h > out.length)
      throw new OptionError(`TransformPipeline: output has ${out.length} floats, needs ${offset + channels * w * h}`, { option: 'out' });
    // HWC uint8 → CHW float32 through the normalisation table, mirrored and replicated on the fly.
    for (let ch = 0; ch < channels; ch++) {
      const base = ch * 256;
      const src = ic === 1 ? 0 : ch;
      let o = offset + ch * w * h;
      for (let y = 0; y < h; y++) {
        const row = y * w;
        if (flip) for (let x = w - 1; x >= 0; x--) out[o++] = table[base + (data[(row + x) * ic + src] as number)] as number;
        else for (let x = 0; x < w; x++) out[o++] = table[base + (data[(row + x) * ic + src] as number)] as number;
      }
    }
  }

  /** Transforms `img` into a new C×H×W Float32Array. */
  apply(img: RgbImage, rng: Rng): Float32Array {
    const out = new Float32Array(this.sampleSize);
    this.applyInto(img, rng, out, 0);
    return out;
  }

  toJSON(): TransformConfig {
    return structuredClone(this.config);
  }
}
