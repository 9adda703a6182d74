/**
 * The size limits that keep a hostile or damaged file (or option) from taking unbounded memory or
 * time: every reader checks the sizes a file declares against these before it allocates, and
 * refuses with a message that names the limit and how to raise it. One place, platform-free; the
 * Node entry also reads `GOOGLENET_<NAME>` environment variables (see `limitsFromEnv`), and
 * programs call {@link setLimits}. The README's "Limits" section lists them.
 */
import { OptionError } from './errors.js';

export interface Limits {
  /** Pixels of one decoded image (width × height); sharp's `limitInputPixels`. Default 8192² = 67,108,864. */
  maxImagePixels: number;
  /** Bytes of one image file. Default 256 MiB. */
  maxImageFileBytes: number;
  /** Shorter side an image is resized to (`--resize`, `preprocess.resize`). Default 4096. */
  maxResize: number;
  /** Classes of a model (`numClasses`, `--num-classes`). Default 100,000. */
  maxNumClasses: number;
  /** Height or width of the images of an IDX dataset (which become the input size). Default 512. */
  maxDatasetImageSide: number;
  /**
   * Bytes of one dataset file (IDX after gunzip, a CIFAR batch). Default 256 MiB: the largest
   * file of the datasets read here is CIFAR-100's train.bin, 154 MB.
   */
  maxDatasetFileBytes: number;
  /**
   * Bytes of tensor data a `.pth` file may inflate to, and take once its tensors are gathered (a
   * small zip can declare gigabytes, a stride-0 view can claim more elements than its storage
   * holds). Default 256 MiB: torchvision's GoogLeNet file is 50 MB.
   */
  maxWeightBytes: number;
  /**
   * Bytes of JSON one file holds: a safetensors header (weights, checkpoints) or a model
   * directory's config.json; also the data of one queue job, checked before it is parsed. JSON
   * can take 50 times its size once parsed. Default 8 MiB (a GoogLeNet checkpoint's header is
   * about 100 KB, a shard of 1,000 paths about 100 KB).
   */
  maxJsonBytes: number;
  /**
   * Files in one shard of a queued run (`queue submit --shard-size`, a job's `files`), checked by
   * `submit` and again by every worker before it reads anything. Default 100,000 (the default
   * shard is 1,000 files).
   */
  maxShardFiles: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxImagePixels: 8192 * 8192,
  maxImageFileBytes: 256 * 1024 * 1024,
  maxResize: 4096,
  maxNumClasses: 100_000,
  maxDatasetImageSide: 512,
  maxDatasetFileBytes: 256 * 1024 * 1024,
  maxWeightBytes: 256 * 1024 * 1024,
  maxJsonBytes: 8 * 1024 * 1024,
  maxShardFiles: 100_000,
});

const current: Limits = { ...DEFAULT_LIMITS };

/** The limits in force (a copy). */
export function getLimits(): Limits {
  return { ...current };
}

/**
 * Raises (or lowers) limits for this process; returns the previous values.
 * @throws OptionError on an unknown name or a value that is not a positive integer.
 */
export function setLimits(changes: Partial<Limits>): Limits {
  const before = getLimits();
  for (const [k, v] of Object.entries(changes)) {
    if (!(k in DEFAULT_LIMITS))
      throw new OptionError(`setLimits: unknown limit "${k}" (known: ${Object.keys(DEFAULT_LIMITS).join(', ')})`, { option: k });
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
      throw new OptionError(`setLimits: ${k} must be a positive integer, received ${JSON.stringify(v)}`, { option: k });
    current[k as keyof Limits] = v;
  }
  return before;
}

/** `maxImagePixels` → `GOOGLENET_MAX_IMAGE_PIXELS`: the environment variable that raises a limit. */
export function limitEnvName(name: keyof Limits): string {
  return 'GOOGLENET_' + name.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

/** How a message says to raise a limit. */
export function raiseHint(name: keyof Limits): string {
  return `the limit ${name} is ${current[name].toLocaleString('en-US')}; raise it with ${limitEnvName(name)}=N or setLimits({ ${name}: N })`;
}

/** The limit overrides in an environment (`{ GOOGLENET_MAX_RESIZE: '8192' }` → `{ maxResize: 8192 }`). */
export function limitsFromEnv(env: Record<string, string | undefined>): Partial<Limits> {
  const out: Partial<Limits> = {};
  for (const k of Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]) {
    const v = env[limitEnvName(k)];
    if (v === undefined || v === '') continue;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 1)
      throw new OptionError(`${limitEnvName(k)} must be a positive integer, received "${v}"`, { option: limitEnvName(k) });
    out[k] = n;
  }
  return out;
}
