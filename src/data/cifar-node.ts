/**
 * CIFAR-10/100 binary files on disk: finding the batch files and the class names in a dataset
 * folder and reading them into shared memory; the record format is `cifar.ts`'s.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetFormatError } from '../errors.js';
import { getLimits, raiseHint } from '../limits.js';
import { CIFAR_SPECS, CifarDataset, PIXELS, parseCifarRecords, type CifarVariant } from './cifar.js';
import { DATASET_STATS } from './core.js';

/** The folder holding the batch files: `dir` itself or `dir/cifar-10-batches-bin` (`dir/cifar-100-binary`). */
function findCifarDir(variant: CifarVariant, dir: string): string {
  const spec = CIFAR_SPECS[variant];
  const first = spec.train[0] as string;
  for (const d of [dir, join(dir, spec.folder)]) if (existsSync(join(d, first)) || existsSync(join(d, spec.test[0] as string))) return d;
  throw new DatasetFormatError(
    `${variant}: cannot find ${first} in ${dir} or ${join(dir, spec.folder)}; run \`googlenet download ${variant} --dir ${dir}\``,
  );
}

async function readClassNames(dir: string, variant: CifarVariant): Promise<string[]> {
  const spec = CIFAR_SPECS[variant];
  const p = join(dir, spec.classNamesFile);
  if (existsSync(p)) {
    if (!(await stat(p)).isFile())
      throw new DatasetFormatError(`${p}: not a regular file (a device, FIFO or socket or a folder)`, { file: p });
    const names = (await readFile(p, 'utf8'))
      .split(/\r?\n/)
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    if (names.length === spec.numClasses) return names;
  }
  return [...spec.defaultClasses];
}

/**
 * Loads a CIFAR-10/100 split from the binary files in `dir` (or its `cifar-10-batches-bin` /
 * `cifar-100-binary` sub-folder) into shared memory.
 * @throws DatasetFormatError naming the missing or malformed file.
 */
export async function loadCifar(variant: CifarVariant, dir: string, split: 'train' | 'test'): Promise<CifarDataset> {
  const spec = CIFAR_SPECS[variant];
  const root = findCifarDir(variant, dir);
  const files = (split === 'train' ? spec.train : spec.test).map((f) => join(root, f));
  const rec = spec.labelBytes + PIXELS;
  const bufs: Uint8Array[] = [];
  for (const f of files) {
    if (!existsSync(f))
      throw new DatasetFormatError(
        `${variant}: missing ${f} (expected ${files.map((x) => x.slice(root.length + 1)).join(', ')} in ${root})`,
      );
    // Checked before reading: Node refuses files over 2 GiB with a message that names no file.
    const st = await stat(f);
    if (!st.isFile()) throw new DatasetFormatError(`${f}: not a regular file (a device, FIFO or socket or a folder)`, { file: f });
    const size = st.size;
    if (size > getLimits().maxDatasetFileBytes)
      throw new DatasetFormatError(
        `${f}: ${size.toLocaleString('en-US')} bytes is more than ${raiseHint('maxDatasetFileBytes')}; a CIFAR batch is about 30 MB`,
        {
          file: f,
        },
      );
    bufs.push(await readFile(f));
  }
  const n = bufs.reduce((a, b) => a + Math.floor(b.length / rec), 0);
  const images = new Uint8Array(new SharedArrayBuffer(n * PIXELS));
  const labels = new Uint8Array(n);
  const coarse = spec.labelBytes === 2 ? new Uint8Array(n) : undefined;
  let start = 0;
  bufs.forEach((b, i) => {
    parseCifarRecords(b, files[i] as string, variant, coarse ? { images, labels, coarse, start } : { images, labels, start });
    start += b.length / rec;
  });
  const stats = DATASET_STATS[variant];
  const classes = await readClassNames(root, variant);
  return new CifarDataset(
    { name: variant, numClasses: spec.numClasses, classes, channels: 3, height: 32, width: 32, mean: [...stats.mean], std: [...stats.std] },
    images,
    labels,
    coarse,
  );
}
