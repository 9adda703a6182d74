/**
 * torchvision's evaluation transform for one decoded picture (`preprocess`) and batching
 * (`stackBatch`). The pixel operations they use live once in `../image/`, shared with the
 * training transforms and evaluation. Pure functions, no Node imports, so the same code runs in
 * the browser; decoding files is in `../image/decode-node.ts`.
 */
import { OptionError } from '../errors.js';
import { getLimits, raiseHint } from '../limits.js';
import type { Tensor } from '../tensor.js';
import { centerCrop, checkSize, toChannels, type RgbImage } from '../image/image.js';
import { toTensor } from '../image/normalize.js';
import { resizeShorter } from '../image/resize.js';

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
  if (resizeTo > getLimits().maxResize)
    throw new OptionError(`preprocess: resize ${resizeTo} is more than ${raiseHint('maxResize')}`, { option: 'resize' });
  if (channels !== 1 && channels !== 3) {
    throw new OptionError(`preprocess: channels must be 1 or 3, received ${String(channels)}`, { option: 'channels' });
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
  if (tensors.length === 0) throw new OptionError('stackBatch: no tensors to stack', { option: 'tensors' });
  const shapeOf = (t: Tensor, i: number): number[] => {
    if (t.dims.length === 3) return t.dims;
    if (t.dims.length === 4 && t.dims[0] === 1) return t.dims.slice(1);
    throw new OptionError(`stackBatch: tensor ${i} has dims [${t.dims.join(', ')}], expected [C, H, W] or [1, C, H, W]`, {
      option: 'tensors',
    });
  };
  const shape = shapeOf(tensors[0] as Tensor, 0);
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size * tensors.length);
  tensors.forEach((t, i) => {
    const s = shapeOf(t, i);
    if (s.join() !== shape.join()) {
      throw new OptionError(`stackBatch: tensor ${i} has shape [${s.join(', ')}], tensor 0 has [${shape.join(', ')}]`, {
        option: 'tensors',
      });
    }
    if (t.data.length !== size) {
      throw new OptionError(`stackBatch: tensor ${i} holds ${t.data.length} values, its dims need ${size}`, { option: 'tensors' });
    }
    out.set(t.data, i * size);
  });
  return { dims: [tensors.length, ...shape], data: out };
}
