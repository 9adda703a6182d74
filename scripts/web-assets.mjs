#!/usr/bin/env node
/**
 * Puts everything the demo page loads under web/public/ (generated, git-ignored), so the page
 * makes no request outside its own origin:
 *
 *   web/public/models/<name>/              every model directory under models/ (config.json +
 *                                          model.safetensors), exported with `--format web`
 *                                          (adds manifest.json); with no trained model, an
 *                                          untrained random-weight demo model
 *   web/public/models/index.json           the list the page offers, default first
 *   web/public/data/fashion-mnist-subset/  the embedded Fashion-MNIST subset (gzipped IDX)
 *   web/public/samples/                    sample pictures: one test image per class (PNG) + index.json
 *
 * Usage: node scripts/web-assets.mjs [--models DIR] [--quiet]
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pub = join(root, 'web', 'public');
const args = process.argv.slice(2);
const quiet = args.includes('--quiet');
const modelsArg = args.indexOf('--models');
const modelsDir = modelsArg >= 0 ? resolve(args[modelsArg + 1]) : join(root, 'models');
const log = (m) => quiet || process.stderr.write(`web-assets: ${m}\n`);

/** Copies when the target is missing or differs in size or is older. */
function copyIfChanged(src, dst) {
  mkdirSync(dirname(dst), { recursive: true });
  if (existsSync(dst)) {
    const a = statSync(src);
    const b = statSync(dst);
    if (a.size === b.size && b.mtimeMs >= a.mtimeMs) return false;
  }
  copyFileSync(src, dst);
  return true;
}

function cli(...argv) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', ...argv], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

// 1. onnxruntime-web needs nothing here: the page's bundler emits its .wasm next to the page, as
// in any app that uses googlenet-ts/browser. Folders copied by earlier versions go.
rmSync(join(pub, 'ort'), { recursive: true, force: true });

// 2. Models.
const outModels = join(pub, 'models');
mkdirSync(outModels, { recursive: true });
const found = existsSync(modelsDir)
  ? readdirSync(modelsDir).filter(
      (n) => existsSync(join(modelsDir, n, 'config.json')) && existsSync(join(modelsDir, n, 'model.safetensors')),
    )
  : [];
const entries = [];
const stamp = (dir) => Math.max(statSync(join(dir, 'config.json')).mtimeMs, statSync(join(dir, 'model.safetensors')).mtimeMs);
function exportModel(src, name) {
  const out = join(outModels, name);
  const manifest = join(out, 'manifest.json');
  if (!existsSync(manifest) || statSync(manifest).mtimeMs < stamp(src)) {
    rmSync(out, { recursive: true, force: true });
    cli('src/cli/main.ts', 'export', '--model', src, '--format', 'web', '-o', out);
    log(`exported models/${name}/`);
  }
  entries.push({ path: `models/${name}/`, ...JSON.parse(readFileSync(manifest, 'utf8')) });
}
for (const name of found.sort()) exportModel(join(modelsDir, name), name);
const trained = entries.filter((e) => e.trained);
if (trained.length === 0) {
  const demo = join(root, 'web', '.cache', 'untrained-demo');
  if (!existsSync(join(demo, 'model.safetensors'))) {
    cli('scripts/web-demo-model.ts', demo);
    log('generated an untrained random-weight demo model (no trained model under models/)');
  }
  exportModel(demo, 'untrained-demo');
}
// Remove exports of models that are gone.
const keep = new Set(entries.map((e) => e.path.split('/')[1]));
for (const n of readdirSync(outModels)) {
  if (statSync(join(outModels, n)).isDirectory() && !keep.has(n)) rmSync(join(outModels, n), { recursive: true, force: true });
}
// Default: a trained Fashion-MNIST model, then any trained model, then the demo.
const rank = (e) => (e.trained ? 0 : 2) + (/fashion/i.test(e.name) ? 0 : 1);
entries.sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
writeFileSync(join(outModels, 'index.json'), JSON.stringify({ default: entries[0]?.path ?? null, models: entries }, null, 2) + '\n');
log(`models: ${entries.map((e) => `${e.name}${e.trained ? '' : ' (untrained)'}`).join(', ')}`);

// 3. The Fashion-MNIST subset.
const subset = join(root, 'assets', 'fashion-mnist-subset');
const files = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];
for (const f of files) {
  if (!existsSync(join(subset, f))) throw new Error(`${join(subset, f)} is missing`);
  copyIfChanged(join(subset, f), join(pub, 'data', 'fashion-mnist-subset', f));
}

// 4. Sample pictures: the first test image of each class, as 28×28 greyscale PNGs.
const classes = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const samplesDir = join(pub, 'samples');
const samplesIndex = join(samplesDir, 'index.json');
if (!existsSync(samplesIndex)) {
  const { default: sharp } = await import('sharp');
  const img = gunzipSync(readFileSync(join(subset, 't10k-images-idx3-ubyte.gz')));
  const lbl = gunzipSync(readFileSync(join(subset, 't10k-labels-idx1-ubyte.gz')));
  const n = img.readUInt32BE(4);
  const h = img.readUInt32BE(8);
  const w = img.readUInt32BE(12);
  mkdirSync(samplesDir, { recursive: true });
  const list = [];
  for (let c = 0; c < classes.length; c++) {
    let i = 0;
    while (i < n && lbl[8 + i] !== c) i++;
    if (i === n) continue;
    const px = img.subarray(16 + i * h * w, 16 + (i + 1) * h * w);
    const file = `fashion-${c}-${classes[c].toLowerCase().replace(/[^a-z]+/g, '-')}.png`;
    await sharp(px, { raw: { width: w, height: h, channels: 1 } })
      .png()
      .toFile(join(samplesDir, file));
    list.push({ file, label: classes[c], index: c, source: `Fashion-MNIST test image ${i} of the embedded subset` });
  }
  writeFileSync(samplesIndex, JSON.stringify(list, null, 2) + '\n');
  log(`wrote ${list.length} sample pictures`);
}
