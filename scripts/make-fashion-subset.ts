#!/usr/bin/env -S node --import tsx
/**
 * Writes the embedded Fashion-MNIST subset (assets/fashion-mnist-subset/): the first N training
 * and M test images of each class, in file order, as gzipped IDX files, plus a README.
 *
 *   node --import tsx scripts/make-fashion-subset.ts [--src /usr/share/datasets/fashion-mnist]
 *        [--out assets/fashion-mnist-subset] [--train-per-class 300] [--test-per-class 100]
 *
 * The source is Debian's `dataset-fashion-mnist` package by default (the four official .gz files).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { findIdxFiles, readMaybeGzip } from '../src/data/idx-node.js';
import { encodeIdx, parseIdx } from '../src/data/idx.js';
import { FASHION_MNIST_CLASSES } from '../src/data/core.js';

const { values } = parseArgs({
  options: {
    src: { type: 'string', default: '/usr/share/datasets/fashion-mnist' },
    out: { type: 'string', default: 'assets/fashion-mnist-subset' },
    'train-per-class': { type: 'string', default: '300' },
    'test-per-class': { type: 'string', default: '100' },
  },
});
const src = values.src as string;
const out = values.out as string;
const perClass = { train: Number(values['train-per-class']), test: Number(values['test-per-class']) };

/** Indices of the first `k` samples of each of the 10 classes, in file order. */
function firstPerClass(labels: Uint8Array, k: number): number[] {
  const taken = new Array<number>(10).fill(0);
  const keep: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i] as number;
    if ((taken[l] as number) < k) {
      taken[l] = (taken[l] as number) + 1;
      keep.push(i);
    }
  }
  if (taken.some((t) => t < k)) throw new Error(`only ${taken.join('/')} samples per class available, wanted ${k}`);
  return keep;
}

await mkdir(out, { recursive: true });
const summary: string[] = [];
for (const split of ['train', 'test'] as const) {
  const files = findIdxFiles(src, split, 'fashion-mnist');
  const images = parseIdx(await readMaybeGzip(files.images), files.images, 3);
  const labels = parseIdx(await readMaybeGzip(files.labels), files.labels, 1);
  const [, h, w] = images.dims as [number, number, number];
  const keep = firstPerClass(labels.data, perClass[split]);
  const px = new Uint8Array(keep.length * h * w);
  const lb = new Uint8Array(keep.length);
  keep.forEach((src, k) => {
    px.set(images.data.subarray(src * h * w, (src + 1) * h * w), k * h * w);
    lb[k] = labels.data[src] as number;
  });
  const prefix = split === 'train' ? 'train' : 't10k';
  const imgGz = gzipSync(encodeIdx([keep.length, h, w], px), { level: 9 });
  const lblGz = gzipSync(encodeIdx([keep.length], lb), { level: 9 });
  await writeFile(join(out, `${prefix}-images-idx3-ubyte.gz`), imgGz);
  await writeFile(join(out, `${prefix}-labels-idx1-ubyte.gz`), lblGz);
  summary.push(
    `| ${split} | ${keep.length} | ${perClass[split]} | ${prefix}-images-idx3-ubyte.gz (${imgGz.length} bytes), ${prefix}-labels-idx1-ubyte.gz (${lblGz.length} bytes) | first ${perClass[split]} of each class among the ${labels.data.length} official ${split} images, in file order |`,
  );
  console.log(`${split}: ${keep.length} images → ${out}`);
}

const readme = `# Fashion-MNIST subset (embedded)

A small, class-balanced subset of [Fashion-MNIST](https://github.com/zalandoresearch/fashion-mnist)
(Xiao, Rasul & Vollgraf, 2017), shipped so that the README's main training job runs offline with
\`--dataset fashion-mnist-subset\` (no \`--data\` needed). Same format as the official files:
gzipped IDX, 28×28 greyscale, labels 0–9
(${FASHION_MNIST_CLASSES.map((c, i) => `${i} ${c}`).join(', ')}).

| split | images | per class | files | selection |
|-------|--------|-----------|-------|-----------|
${summary.join('\n')}

The test images come from the official test split only, so subset accuracy is measured on images
the model never trained on.

## How it was made

From the official files as packaged by Debian (\`dataset-fashion-mnist\`, installed under
\`${src}\`), with:

\`\`\`sh
node --import tsx scripts/make-fashion-subset.ts --src ${src} --out ${out} \\
  --train-per-class ${perClass.train} --test-per-class ${perClass.test}
\`\`\`

The selection is deterministic (no randomness), so running it again reproduces the same pixels
and labels.

## License

Fashion-MNIST is released under the MIT License, Copyright (c) 2017 Zalando SE
(https://tech.zalando.com). This subset is a derived copy under the same license:

    The MIT License (MIT)

    Copyright (c) 2017 Zalando SE, https://tech.zalando.com

    Permission is hereby granted, free of charge, to any person obtaining a copy
    of this software and associated documentation files (the "Software"), to deal
    in the Software without restriction, including without limitation the rights
    to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
    copies of the Software, and to permit persons to whom the Software is
    furnished to do so, subject to the following conditions:

    The above copyright notice and this permission notice shall be included in all
    copies or substantial portions of the Software.

    THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
    IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
    FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
    AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
    LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
    OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
    SOFTWARE.
`;
await writeFile(join(out, 'README.md'), readme);
console.log(`wrote ${join(out, 'README.md')}`);
