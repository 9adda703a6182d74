/**
 * CIFAR-10 and CIFAR-100 "binary version" files (Krizhevsky's cifar-10-binary.tar.gz layout).
 *
 * CIFAR-10 (`cifar-10-batches-bin/data_batch_{1..5}.bin`, `test_batch.bin`): records of
 * 1 label byte + 3072 pixel bytes. CIFAR-100 (`cifar-100-binary/train.bin`, `test.bin`): records
 * of 1 coarse-label byte + 1 fine-label byte + 3072 pixel bytes. Pixels are 3×32×32 planes
 * (all R, then G, then B), row-major; they are stored here as HWC.
 */
import { DatasetFormatError, OptionError } from '../errors.js';
import { CIFAR10_CLASSES, CIFAR100_CLASSES, CIFAR100_COARSE_CLASSES, MemoryDataset, type DatasetInfo } from './core.js';

export type CifarVariant = 'cifar10' | 'cifar100';

/** Bytes of one 3×32×32 image. */
export const PIXELS = 3 * 32 * 32;

interface VariantSpec {
  labelBytes: 1 | 2;
  numClasses: number;
  folder: string;
  train: string[];
  test: string[];
  classNamesFile: string;
  defaultClasses: readonly string[];
}

export const CIFAR_SPECS: Readonly<Record<CifarVariant, VariantSpec>> = {
  cifar10: {
    labelBytes: 1,
    numClasses: 10,
    folder: 'cifar-10-batches-bin',
    train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
    test: ['test_batch.bin'],
    classNamesFile: 'batches.meta.txt',
    defaultClasses: CIFAR10_CLASSES,
  },
  cifar100: {
    labelBytes: 2,
    numClasses: 100,
    folder: 'cifar-100-binary',
    train: ['train.bin'],
    test: ['test.bin'],
    classNamesFile: 'fine_label_names.txt',
    defaultClasses: CIFAR100_CLASSES,
  },
};

/** Parsed records: HWC pixels, (fine) labels and, for CIFAR-100, coarse labels. */
export interface CifarRecords {
  /** N×32×32×3. */
  images: Uint8Array;
  labels: Uint8Array;
  coarseLabels?: Uint8Array;
}

/**
 * Parses CIFAR binary records, transposing CHW planes to HWC. When `into` is given the pixels
 * are written there starting at sample `start` (so several batch files fill one buffer).
 * @throws DatasetFormatError when the size is not a whole number of records or a label is out of range.
 */
export function parseCifarRecords(
  buf: Uint8Array,
  file: string,
  variant: CifarVariant,
  into?: { images: Uint8Array; labels: Uint8Array; coarse?: Uint8Array; start: number },
): CifarRecords {
  const spec = CIFAR_SPECS[variant];
  const rec = spec.labelBytes + PIXELS;
  if (buf.length === 0 || buf.length % rec !== 0) {
    const whole = Math.floor(buf.length / rec);
    throw new DatasetFormatError(
      `${file}: ${buf.length} bytes is not a whole number of ${rec}-byte ${variant === 'cifar10' ? 'CIFAR-10' : 'CIFAR-100'} records ` +
        `(${spec.labelBytes === 1 ? '1 label byte' : '2 label bytes'} + 3072 pixels): ${whole} records and ${buf.length - whole * rec} bytes left over (truncated or wrong format)`,
    );
  }
  const n = buf.length / rec;
  const start = into?.start ?? 0;
  const images = into?.images ?? new Uint8Array(n * PIXELS);
  const labels = into?.labels ?? new Uint8Array(n);
  const coarse = spec.labelBytes === 2 ? (into?.coarse ?? new Uint8Array(n)) : undefined;
  for (let r = 0; r < n; r++) {
    const off = r * rec;
    const fine = buf[off + spec.labelBytes - 1] as number;
    if (fine >= spec.numClasses) {
      throw new DatasetFormatError(
        `${file}: label ${fine} of record ${r} (offset ${off + spec.labelBytes - 1}) is out of range; ${variant} has ${spec.numClasses} classes (0–${spec.numClasses - 1})`,
      );
    }
    if (coarse) {
      const c = buf[off] as number;
      if (c >= 20)
        throw new DatasetFormatError(
          `${file}: coarse label ${c} of record ${r} (offset ${off}) is out of range; cifar100 has 20 superclasses (0–19)`,
        );
      coarse[start + r] = c;
    }
    labels[start + r] = fine;
    const px = off + spec.labelBytes;
    const o = (start + r) * PIXELS;
    for (let p = 0; p < 1024; p++) {
      images[o + 3 * p] = buf[px + p] as number;
      images[o + 3 * p + 1] = buf[px + 1024 + p] as number;
      images[o + 3 * p + 2] = buf[px + 2048 + p] as number;
    }
  }
  return coarse ? { images, labels, coarseLabels: coarse } : { images, labels };
}

/** Encodes HWC 32×32×3 images and labels as CIFAR binary records (the inverse of `parseCifarRecords`). */
export function encodeCifarRecords(
  variant: CifarVariant,
  images: Uint8Array,
  labels: ArrayLike<number>,
  coarseLabels?: ArrayLike<number>,
): Uint8Array {
  const spec = CIFAR_SPECS[variant];
  const rec = spec.labelBytes + PIXELS;
  const n = labels.length;
  if (images.length !== n * PIXELS)
    throw new OptionError(`encodeCifarRecords: ${images.length} bytes do not hold ${n} 32×32×3 images`, { option: 'images' });
  const out = new Uint8Array(n * rec);
  for (let r = 0; r < n; r++) {
    const off = r * rec;
    if (spec.labelBytes === 2) out[off] = coarseLabels?.[r] ?? 0;
    out[off + spec.labelBytes - 1] = labels[r] as number;
    for (let p = 0; p < 1024; p++) {
      for (let c = 0; c < 3; c++) out[off + spec.labelBytes + c * 1024 + p] = images[r * PIXELS + 3 * p + c] as number;
    }
  }
  return out;
}

/** A loaded CIFAR split; for CIFAR-100 `coarseLabels` holds the 20 superclass labels. */
export class CifarDataset extends MemoryDataset {
  readonly coarseLabels: Uint8Array | undefined;
  readonly coarseClasses: readonly string[] | undefined;
  constructor(info: DatasetInfo & { height: number; width: number }, images: Uint8Array, labels: Uint8Array, coarseLabels?: Uint8Array) {
    super(info, images, labels);
    this.coarseLabels = coarseLabels;
    this.coarseClasses = coarseLabels ? CIFAR100_COARSE_CLASSES : undefined;
  }
}
