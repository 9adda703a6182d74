/**
 * `googlenet explain`: Grad-CAM of a class at a tap for image files, written as a PNG overlay per
 * image (the region the model saw, a colour map over it, the class and probability in a caption),
 * or printed raw with `--json`; with `--branches`, an Inception module's branch activations.
 */
import type { Command } from 'commander';
import { basename, extname, join } from 'node:path';
import {
  Classifier,
  decodeImageFile,
  type Explanation,
  type ExplainOptions,
  type GradCamMethod,
  makeDir,
  OptionError,
  overlayExplanation,
  writeExplanationPng,
} from '../index.js';
import { action, addModelFlags, intOption, loadFromFlags, log, type ModelFlags, printJson, resizeOption } from './common.js';

interface Flags extends ModelFlags {
  layer?: string;
  class?: number;
  head?: string;
  method?: string;
  branches?: string | boolean;
  resize?: number;
  crop?: number;
  out?: string;
  json: boolean;
}

/** The library's option names as this command's flags, for its one-line errors. */
const FLAGS: Record<string, string> = {
  layer: '--layer',
  classIndex: '--class',
  head: '--head',
  branches: '--branches',
  method: '--method',
};

function asFlagError(e: unknown): unknown {
  if (!(e instanceof OptionError) || e.option === undefined || FLAGS[e.option] === undefined) return e;
  const flag = FLAGS[e.option]!;
  return new OptionError(e.message.replace(new RegExp(`^${e.option}:`), `${flag}:`), { option: flag, cause: e });
}

/** Where each image's overlay goes: `-o FILE.png` for one image, else `<name>.gradcam.png` in the `-o` folder (default `.`). */
function overlayPaths(images: string[], out: string | undefined): string[] {
  if (out !== undefined && extname(out).toLowerCase() === '.png') {
    if (images.length > 1) throw new OptionError(`-o ${out}: one PNG file for ${images.length} images; give a folder`, { option: '-o' });
    return [out];
  }
  const dir = out ?? '.';
  const paths = images.map((f) => join(dir, `${basename(f, extname(f))}.gradcam.png`));
  const dup = paths.find((p, i) => paths.indexOf(p) !== i);
  if (dup) throw new OptionError(`-o: two images would both write ${dup}; explain them separately`, { option: '-o' });
  if (out !== undefined) makeDir(out);
  return paths;
}

const rows = (m: { width: number; height: number; data: Float32Array }): number[][] =>
  Array.from({ length: m.height }, (_, y) => Array.from(m.data.subarray(y * m.width, (y + 1) * m.width)));

function asJson(file: string, e: Explanation, overlay: string | undefined): Record<string, unknown> {
  return {
    file,
    class: e.classIndex,
    label: e.label,
    probability: e.probability,
    head: e.head,
    layer: e.layer,
    method: e.method,
    cam: rows(e.cam),
    heads: e.heads,
    ...(e.branches
      ? { branches: { module: e.branches.module, branches: e.branches.branches.map((b) => ({ ...b, map: rows(b.map) })) } }
      : {}),
    ...(overlay ? { overlay } : {}),
  };
}

function printText(file: string, e: Explanation, overlay: string | undefined): void {
  const pct = (p: number): string => `${(100 * p).toFixed(1)}%`;
  process.stdout.write(`${file}${overlay ? ` → ${overlay}` : ''}\n`);
  process.stdout.write(
    `  ${e.method === 'gradcam' ? 'Grad-CAM' : 'Grad-CAM++'} of ${e.label} (${e.classIndex}, ${pct(e.probability)}) at ${e.layer} (${e.cam.height}×${e.cam.width})\n`,
  );
  const others = Object.entries(e.heads).filter(([h]) => h !== e.head);
  if (others.length) process.stdout.write(`  ${others.map(([h, p]) => `${h}: ${p.label} ${pct(p.probability)}`).join(' · ')}\n`);
  if (e.branches) {
    process.stdout.write(`  ${e.branches.module} branches (share of the output, mean activation):\n`);
    for (const b of e.branches.branches)
      process.stdout.write(`    ${b.name.padEnd(10)} ${b.ops.padEnd(24)} ${pct(b.share).padStart(6)}  ${b.mean.toFixed(4)}\n`);
  }
}

export function register(program: Command): void {
  addModelFlags(
    program
      .command('explain')
      .description('Grad-CAM: where in each image the evidence for a class lies (PNG overlays), and Inception branch activations')
      .argument('<images...>', 'image files (JPEG, PNG, WebP)'),
  )
    .option(
      '--layer <tap>',
      'feature map to explain at (default: the last one, inception5b; Mixed_7c for inception_v3; any tap: conv1, inception4c, …)',
    )
    .option('--class <k>', 'class index to explain (default: the top class of each image)', intOption('--class', 0))
    .option('--head <name>', 'classifier whose score is explained: logits, or aux1/aux2 with --aux (default logits)')
    .option('--method <name>', 'gradcam (default) or gradcam++ (Grad-CAM++: the same gradient, other channel weights)')
    .option('--branches [module]', "an Inception module's branch activations (default: the --layer)")
    .option('--resize <s>', "resize the shorter side to S (default: the model's, 256 for ImageNet models)", resizeOption())
    .option('--crop <s>', "centre-crop to S×S (default: the model's input size, 224)", intOption('--crop'))
    .option('-o, --out <path>', 'PNG file (one image) or folder for the overlays (default: <name>.gradcam.png here; none with --json)')
    .option('--json', 'print a JSON array, one object per image: file, class, label, layer, cam (the raw map), …', false)
    .action(
      action(async (images: string[], f: Flags) => {
        const paths = f.json && f.out === undefined ? undefined : overlayPaths(images, f.out);
        const net = await loadFromFlags(f);
        const p = { ...net.preprocessing, resize: f.resize ?? net.preprocessing.resize, crop: f.crop ?? net.preprocessing.crop };
        const size = net.model.config.inputSize;
        if (p.crop !== size)
          throw new OptionError(`--crop: this model takes ${size}×${size} inputs, received ${p.crop}`, { option: '--crop' });
        const clf = new Classifier(net.model, p);
        const options: ExplainOptions = {
          ...(f.layer !== undefined ? { layer: f.layer } : {}),
          ...(f.class !== undefined ? { classIndex: f.class } : {}),
          ...(f.head !== undefined ? { head: f.head } : {}),
          ...(f.method !== undefined ? { method: f.method as GradCamMethod } : {}),
          ...(f.branches !== undefined ? { branches: f.branches } : {}),
        };
        const results: Record<string, unknown>[] = [];
        for (const [i, file] of images.entries()) {
          const picture = await decodeImageFile(file);
          const [e] = await clf.explain(picture, options).catch((err: unknown) => Promise.reject(asFlagError(err)));
          const overlay = paths?.[i];
          if (overlay) {
            const name = e!.label === String(e!.classIndex) ? `class ${e!.classIndex}` : e!.label;
            const caption = `${name} ${(100 * e!.probability).toFixed(1)}% · ${e!.head === 'logits' ? '' : `${e!.head}, `}${e!.layer}`;
            await writeExplanationPng(overlay, overlayExplanation(picture, e!.cam, p), caption);
          }
          if (f.json) results.push(asJson(file, e!, overlay));
          else printText(file, e!, overlay);
        }
        await net.model.dispose();
        if (f.json) printJson(results);
        else if (paths) log(`wrote ${paths.length} overlay${paths.length === 1 ? '' : 's'}`);
      }),
    );
}
