/** `googlenet predict`: classify image files with a model directory or torchvision weights. */
import type { Command } from 'commander';
import { action, addModelFlags, intOption, loadFromFlags, type ModelFlags, printJson, resizeOption } from './common.js';
import { decodeImageFile, OptionError, preprocess, stackBatch, topK } from '../index.js';
import { FOLDER_FLAGS, isFolderRun, predictFolders, type FolderFlags } from './predict-folder.js';

interface Flags extends ModelFlags, Omit<FolderFlags, 'topK' | 'logits'> {
  resize?: number;
  crop?: number;
  topK: number;
  json: boolean;
  logits: boolean;
}

export function register(program: Command): void {
  addModelFlags(
    program
      .command('predict')
      .description('classify images (JPEG, PNG, WebP): top-k labels with probabilities')
      .argument('<images...>', 'image files, or folders (streamed: see --out)'),
  )
    .option('--resize <s>', "resize the shorter side to S (default: the model's, 256 for ImageNet models)", resizeOption())
    .option('--crop <s>', "centre-crop to S×S (default: the model's input size, 224)", intOption('--crop'))
    .option('--top-k <k>', 'labels per image', intOption('--top-k'), 5)
    .option('--json', 'print a JSON array, one object per image', false)
    .option('--logits', 'include the raw logits', false)
    .option(...FOLDER_FLAGS.recursive)
    .option(...FOLDER_FLAGS.out)
    .option(...FOLDER_FLAGS.features)
    .option(...FOLDER_FLAGS.onError)
    .option(...FOLDER_FLAGS.resume)
    .option(...FOLDER_FLAGS.batch)
    .option(...FOLDER_FLAGS.workers)
    .action(
      action(async (images: string[], f: Flags) => {
        if (isFolderRun(images, f)) return predictFolders(images, f, () => loadFromFlags(f));
        const net = await loadFromFlags(f);
        const p = net.preprocessing;
        const opts = {
          resize: f.resize ?? p.resize,
          crop: f.crop ?? p.crop,
          mean: p.mean,
          std: p.std,
          channels: net.model.config.inChannels as 1 | 3,
        };
        const size = net.model.config.inputSize;
        if (opts.crop !== size)
          throw new OptionError(`--crop: this model takes ${size}×${size} inputs, received ${opts.crop}`, { option: '--crop' });
        const results: { file: string; top: { index: number; label: string; probability: number }[]; logits?: number[] }[] = [];
        for (const file of images) {
          const x = stackBatch([preprocess(await decodeImageFile(file), opts)]);
          const logits = (await net.model.forward(x)).logits;
          const top = topK(logits, f.topK, net.model.labels)[0]!;
          results.push({ file, top, ...(f.logits ? { logits: Array.from(logits.data) } : {}) });
        }
        await net.model.dispose();
        if (f.json) {
          printJson(results);
          return;
        }
        for (const r of results) {
          process.stdout.write(`${r.file}\n`);
          for (const t of r.top) process.stdout.write(`  ${(100 * t.probability).toFixed(2).padStart(6)}%  ${t.label} (${t.index})\n`);
          if (r.logits) process.stdout.write(`  logits: ${r.logits.map((v) => v.toFixed(5)).join(' ')}\n`);
        }
      }),
    );
}
