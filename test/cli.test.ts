/**
 * End-to-end runs of the real `googlenet` command (`node --import tsx src/cli/main.ts …`):
 * stdout, stderr and exit code of summary, predict, import and the package `bin`, and the
 * one-line error of every bad input issue 2 lists ("Bad input"). Small random models stand in
 * where the torchvision fixtures are not needed; fixture tests skip with a message when absent.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import '../src/runtime/engine-node.js';
import { softmax } from '../src/infer/classifier.js';
import { GoogLeNet } from '../src/models/model.js';
import { relativeError } from '../src/tensor.js';
import { loadStateDict } from '../src/weights/formats-node.js';
import { saveModelDir } from '../src/weights/model-dir-node.js';
import { openZip } from '../src/weights/zip-reader.js';
import { saveSafetensorsFile, type StoredTensor } from '../src/weights/safetensors-node.js';
import { REPO, cli, cliAsync, ok, type Run } from './cli-run.js';
import { fixturePath, missingFixture } from './fixtures.js';

const PYTHON = '/usr/bin/python3';
const IMAGENET: string[] = JSON.parse(readFileSync(join(REPO, 'assets', 'imagenet-classes.json'), 'utf8')) as string[];

/** Asserts exit code 1, nothing on stdout, and exactly `googlenet: <message>` on stderr (no stack). */
function fails(args: string[], message: string | RegExp): void {
  checkFailure(args, cli(...args), message);
}

/** {@link fails} for several runs at once, at most 3 at a time. */
async function failsAll(cases: [args: string[], message: string | RegExp][]): Promise<void> {
  const results: Run[] = [];
  for (let i = 0; i < cases.length; i += 3) results.push(...(await Promise.all(cases.slice(i, i + 3).map(([args]) => cliAsync(args)))));
  cases.forEach(([args, message], i) => checkFailure(args, results[i]!, message));
}

function checkFailure(args: string[], r: Run, message: string | RegExp): void {
  const what = `googlenet ${args.join(' ')}`;
  assert.equal(r.status, 1, `${what}: exit code\n${r.stderr}`);
  assert.equal(r.stdout, '', `${what}: stdout`);
  assert.ok(!r.stderr.split('\n').some((l) => l.startsWith('    at ')), `${what}: a stack trace without --verbose:\n${r.stderr}`);
  assert.ok(r.stderr.endsWith('\n') && r.stderr.indexOf('\n') === r.stderr.length - 1, `${what}: expected one line, got:\n${r.stderr}`);
  const line = r.stderr.slice(0, -1);
  if (typeof message === 'string') assert.equal(line, `googlenet: ${message}`, what);
  else assert.match(line, message, what);
}

/** Parses stdout that must be one JSON document and nothing else. */
function json<T>(stdout: string): T {
  assert.match(stdout, /^[[{]/, 'stdout starts with the JSON document');
  return JSON.parse(stdout) as T;
}

let tmp: string;
/** A 1000-class torchvision-preset model dir at width 0.25 and 64×64 input (random weights, no labels saved). */
let imagenetDir: string;
let png: string;
let jpg: string;
let webp: string;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'googlenet-cli-'));
  imagenetDir = join(tmp, 'imagenet-small');
  const m = new GoogLeNet({ preset: 'torchvision', width: 0.25, inputSize: 64 }, { seed: 3 });
  saveModelDir(m, imagenetDir);
  // A colour gradient, in three encodings.
  const w = 80;
  const h = 60;
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) px.set([(x * 3) & 255, (y * 4) & 255, ((x + y) * 2) & 255], (y * w + x) * 3);
  }
  const img = (): sharp.Sharp => sharp(px, { raw: { width: w, height: h, channels: 3 } });
  png = join(tmp, 'a.png');
  jpg = join(tmp, 'b.jpg');
  webp = join(tmp, 'c.webp');
  await img().png().toFile(png);
  await img().jpeg({ quality: 95 }).toFile(jpg);
  await img().webp({ quality: 95 }).toFile(webp);
});

after(() => rmSync(tmp, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// summary

interface SummaryJson {
  params: number;
  macs: number;
  inputShape: number[];
  layers: { name: string; outputShape: number[]; params: number; macs: number }[];
}

test('summary --json: params and macs are numbers, layers add up; exact counts per preset', () => {
  const tv = json<SummaryJson>(ok('summary', '--json'));
  assert.equal(typeof tv.params, 'number');
  assert.equal(typeof tv.macs, 'number');
  assert.ok(Array.isArray(tv.layers));
  assert.equal(tv.params, 6_624_904);
  assert.equal(tv.macs, 1_498_376_192); // about 1.50 G
  assert.deepEqual(tv.inputShape, [3, 224, 224]);
  assert.deepEqual(tv.layers.map((l) => l.name).slice(0, 3), ['conv1', 'maxpool1', 'conv2']);
  assert.deepEqual(tv.layers.at(-1), { name: 'fc', outputShape: [1000], params: 1_025_000, macs: 1_024_000 });
  assert.equal(
    tv.layers.reduce((s, l) => s + l.params, 0),
    tv.params,
  );
  assert.equal(
    tv.layers.reduce((s, l) => s + l.macs, 0),
    tv.macs,
  );
  const bn = json<SummaryJson>(ok('summary', '--preset', 'bn', '--aux', '--json'));
  assert.equal(bn.params, 13_385_816);
  assert.ok(bn.layers.some((l) => l.name === 'aux1') && bn.layers.some((l) => l.name === 'aux2'));
  const bnEval = json<SummaryJson>(ok('summary', '--preset', 'bn', '--json'));
  assert.deepEqual([bnEval.params, bnEval.macs], [7_005_832, 1_582_671_872]); // about 1.58 G
  assert.equal(json<SummaryJson>(ok('summary', '--preset', 'paper', '--json')).params, 6_998_552);
  const small = json<SummaryJson>(
    ok('summary', '--preset', 'cifar', '--num-classes', '10', '--in-channels', '1', '--input-size', '28', '--width', '0.5', '--json'),
  );
  assert.deepEqual(small.inputShape, [1, 28, 28]);
  assert.deepEqual(small.layers.at(-1)!.outputShape, [10]);
});

test('summary prints the torchinfo-style table with totals', () => {
  const out = ok('summary');
  assert.match(out, /^conv1\s+\[N, 64, 112, 112\]\s+9,536\s+118,013,952$/m);
  assert.match(out, /^Total params: 6,624,904$/m);
  assert.match(out, /^Total mult-adds per image: 1\.498 G \(1,498,376,192\)$/m);
});

test("summary --compare-naive: the seeds' 221,184 / 129,024 arithmetic and GAP against 51,380,224 dense weights", () => {
  const out = ok('summary', '--compare-naive', '--preset', 'bn');
  assert.ok(out.includes('a 3×3 conv 192→128 needs 128·192·3·3 = 221,184 weights; through a 1×1 reduction to 96,'), out);
  assert.ok(out.includes('96·192·1·1 + 128·96·3·3 = 129,024.'), out);
  assert.match(out, /Global average pooling on 7×7×1024: 0 weights; flatten \+ fully connected to 1024 units: 51,380,224\./);
  // inception3a on 192×28×28: naive 192·64 + 192·128·9 + 192·32·25, reduced adds the 1×1s and the pool projection.
  assert.match(out, /^inception3a\s+192×28×28\s+387,072\s+303,464,448\s+163,328\s+128,049,152\s+57\.8%$/m);
  for (const m of ['inception3a', 'inception3b', 'inception4a', 'inception4e', 'inception5b'])
    assert.match(out, new RegExp(`^${m}\\s`, 'm'));

  const j = json<{
    modules: { name: string; inChannels: number; spatial: number; naive: { params: number }; reduced: { params: number } }[];
    gapVersusDense: { gapParams: number; denseParams: number };
  }>(ok('summary', '--compare-naive', '--preset', 'bn', '--json'));
  assert.equal(j.modules.length, 9);
  assert.deepEqual(
    [j.modules[0]!.name, j.modules[0]!.inChannels, j.modules[0]!.spatial, j.modules[0]!.naive.params, j.modules[0]!.reduced.params],
    ['inception3a', 192, 28, 387_072, 163_328],
  );
  assert.deepEqual(j.gapVersusDense, { gapParams: 0, denseParams: 51_380_224 });
});

// ---------------------------------------------------------------------------------------------
// predict

interface PredictJson {
  file: string;
  top: { index: number; label: string; probability: number }[];
  logits?: number[];
}

test('predict --json: one object per image (PNG, JPEG, WebP) with file and top-k; stdout is only the JSON', () => {
  const r = cli('predict', '--model', imagenetDir, '--json', '--top-k', '3', png, jpg, webp);
  assert.equal(r.status, 0, r.stderr);
  const out = json<PredictJson[]>(r.stdout);
  assert.deepEqual(
    out.map((o) => o.file),
    [png, jpg, webp],
  );
  for (const o of out) {
    assert.deepEqual(Object.keys(o).sort(), ['file', 'top'], 'no logits without --logits');
    assert.equal(o.top.length, 3);
    for (const t of o.top) {
      assert.deepEqual(Object.keys(t).sort(), ['index', 'label', 'probability']);
      assert.ok(Number.isInteger(t.index) && t.index >= 0 && t.index < 1000);
      assert.equal(t.label, IMAGENET[t.index], 'a 1000-class model without labels gets the ImageNet labels');
      assert.ok(t.probability > 0 && t.probability <= 1);
    }
    assert.ok(o.top[0]!.probability >= o.top[1]!.probability && o.top[1]!.probability >= o.top[2]!.probability);
  }
});

test('predict --json --logits: 1000 numbers whose softmax gives the top-k', () => {
  const out = json<PredictJson[]>(ok('predict', '--model', imagenetDir, '--json', '--logits', '--top-k', '5', png));
  assert.equal(out.length, 1);
  const { logits, top } = out[0]!;
  assert.ok(Array.isArray(logits) && logits.length === 1000 && logits.every((v) => typeof v === 'number' && Number.isFinite(v)));
  const p = softmax(logits);
  const order = Array.from(p.keys())
    .sort((a, b) => p[b]! - p[a]!)
    .slice(0, 5);
  assert.deepEqual(
    top.map((t) => t.index),
    order,
  );
  for (const t of top) assert.ok(Math.abs(t.probability - p[t.index]!) < 1e-12);
});

test('predict (text): top-k lines show ImageNet labels from assets/imagenet-classes.json', () => {
  const out = ok('predict', '--model', imagenetDir, '--top-k', '2', png);
  const lines = out.trimEnd().split('\n');
  assert.equal(lines[0], png);
  assert.equal(lines.length, 3);
  for (const l of lines.slice(1)) {
    const m = /^ +(\d+\.\d\d)% {2}(.+) \((\d+)\)$/.exec(l);
    assert.ok(m, `line "${l}"`);
    assert.equal(m[2], IMAGENET[Number(m[3])]);
  }
});

test('import of the .pth fixture into a model dir: predict --model gives the logits of predict --weights', (t) => {
  const pth = fixturePath('googlenet-tv-noaux10.pth');
  const image = fixturePath('image-224.png');
  if (!pth || !image) return t.skip(missingFixture(pth ? 'image-224.png' : 'googlenet-tv-noaux10.pth'));
  const dir = join(tmp, 'imported');
  const r = cli('import', pth, '-o', dir, '--num-classes', '10', '--transform-input');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '', 'import logs on stderr only');
  assert.match(r.stderr, /imported .* \(5,610,154 parameters, preset torchvision\)/);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as {
    model: { numClasses: number; transformInput: boolean };
    labels: unknown;
    source: string;
  };
  assert.deepEqual([config.model.numClasses, config.model.transformInput, config.labels, config.source], [10, true, null, pth]);
  const logits = (...args: string[]): number[] => json<PredictJson[]>(ok('predict', '--json', '--logits', ...args, image))[0]!.logits!;
  const fromDir = logits('--model', dir);
  const fromWeights = logits('--weights', pth, '--num-classes', '10', '--transform-input');
  assert.equal(fromDir.length, 10);
  assert.ok(relativeError(fromDir, fromWeights) <= 1e-6, `relative error ${relativeError(fromDir, fromWeights)}`);
  // Labels of a 10-class model without names are the indices.
  const top = json<PredictJson[]>(ok('predict', '--model', dir, '--json', '--top-k', '1', image))[0]!.top[0]!;
  assert.equal(top.label, String(top.index));
});

test('--json: stdout is pure JSON for every command that has it', () => {
  const runs: string[][] = [
    ['summary', '--json'],
    ['summary', '--json', '--preset', 'cifar', '--aux'],
    ['summary', '--compare-naive', '--json'],
    ['predict', '--model', imagenetDir, '--json', '--logits', png, jpg],
  ];
  for (const args of runs) {
    const r = cli(...args);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotThrow(() => JSON.parse(r.stdout), `googlenet ${args.join(' ')}: stdout is not one JSON document`);
    assert.equal(r.stdout.trim(), JSON.stringify(JSON.parse(r.stdout), null, 2));
  }
});

test('the package bin: `npx --no-install googlenet --help` and `node dist/cli/main.js` (after npm run build)', (t) => {
  const bin = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { bin: Record<string, string>; version: string };
  assert.equal(bin.bin['googlenet'], 'dist/cli/main.js');
  const main = join(REPO, 'dist', 'cli', 'main.js');
  if (!existsSync(main)) {
    // `npm test` builds first (the repo's .npmrc keeps `npm ci` from running scripts): in CI a
    // missing bin is a broken test command, not a reason to skip.
    if (process.env['CI']) assert.fail('dist/cli/main.js is missing although `npm test` runs `npm run build` first');
    return t.skip('dist/cli/main.js is missing: run `npm run build` first');
  }
  assert.ok(readFileSync(main, 'utf8').startsWith('#!/usr/bin/env node\n'), 'the bin has a node shebang');
  const help = spawnSync('npx', ['--no-install', 'googlenet', '--help'], { cwd: REPO, encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: googlenet \[options\] \[command\]/);
  for (const c of ['summary', 'predict', 'import', 'export']) assert.match(help.stdout, new RegExp(`^  ${c} `, 'm'));
  const version = spawnSync(process.execPath, [main, '--version'], { cwd: REPO, encoding: 'utf8' });
  assert.equal(version.status, 0, version.stderr);
  assert.equal(version.stdout.trim(), bin.version);
});

// ---------------------------------------------------------------------------------------------
// Bad input: one line on stderr naming the file or option, exit code 1, no stack trace

test('error: a missing weight file (and the stack trace only with --verbose)', () => {
  const missing = join(tmp, 'nope', 'googlenet.pth');
  fails(['predict', '--weights', missing, '--num-classes', '10', png], `${missing}: no such file`);
  fails(['import', missing, '-o', join(tmp, 'never')], `${missing}: no such file`);
  assert.ok(!existsSync(join(tmp, 'never')), 'a failed import writes nothing');
  const r = cli('predict', '--weights', missing, '--num-classes', '10', '--verbose', png);
  assert.equal(r.status, 1);
  assert.ok(r.stderr.startsWith(`googlenet: ${missing}: no such file\n`));
  assert.ok(
    r.stderr.split('\n').some((l) => l.startsWith('    at ')),
    '--verbose prints the stack',
  );
});

test('error: truncated weight files (.pth and .safetensors cut in half)', (t) => {
  const pth = fixturePath('googlenet-tv-noaux10.pth');
  const st = fixturePath('googlenet-tv-aux10.safetensors');
  if (!pth || !st) return t.skip(missingFixture(pth ? 'googlenet-tv-aux10.safetensors' : 'googlenet-tv-noaux10.pth'));
  const half = (src: string, name: string): { path: string; bytes: Buffer } => {
    const all = readFileSync(src);
    const bytes = all.subarray(0, all.length >> 1);
    const path = join(tmp, name);
    writeFileSync(path, bytes);
    return { path, bytes };
  };
  const p = half(pth, 'half.pth');
  fails(
    ['predict', '--weights', p.path, '--num-classes', '10', png],
    `${p.path}: zip end-of-central-directory record not found (truncated or not a zip archive)`,
  );
  // The safetensors header survives; the first tensor (in header order) whose bytes are cut is named.
  const s = half(st, 'half.safetensors');
  const headerLen = Number(s.bytes.readBigUInt64LE(0));
  const header = JSON.parse(s.bytes.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
  const dataLen = s.bytes.length - 8 - headerLen;
  const [key, entry] = Object.entries(header).find(([k, v]) => k !== '__metadata__' && v.data_offsets[1] > dataLen)!;
  fails(
    ['import', s.path, '-o', join(tmp, 'never'), '--num-classes', '10'],
    `${s.path}: tensor "${key}" data_offsets [${entry.data_offsets.join(', ')}] lie outside the ${dataLen} data bytes`,
  );
});

test('error: corrupt weight files (random bytes; a flipped byte inside a .pth storage)', (t) => {
  const bytes = Buffer.concat(Array.from({ length: 64 }, (_, i) => createHash('sha256').update(`noise ${i}`).digest()));
  const path = join(tmp, 'random.pth');
  writeFileSync(path, bytes);
  const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  fails(
    ['predict', '--weights', path, png],
    `${path}: unrecognized weight format: expected a zip archive (PyTorch .pth) or a safetensors header, found bytes ${head}`,
  );
  const empty = join(tmp, 'empty.safetensors');
  writeFileSync(empty, '');
  fails(['predict', '--weights', empty, png], `${empty}: empty file (0 bytes), expected a .pth or .safetensors weight file`);

  const pth = fixturePath('googlenet-tv-noaux10.pth');
  if (!pth) return t.skip(missingFixture('googlenet-tv-noaux10.pth'));
  const pthBytes = Buffer.from(readFileSync(pth));
  const biggest = [...openZip(pthBytes, pth).entries.values()].sort((a, b) => b.size - a.size)[0]!;
  const local = biggest.localHeaderOffset;
  const dataAt = local + 30 + pthBytes.readUInt16LE(local + 26) + pthBytes.readUInt16LE(local + 28);
  pthBytes[dataAt + (biggest.size >> 1)]! ^= 0x5a;
  const bad = join(tmp, 'flipped.pth');
  writeFileSync(bad, pthBytes);
  fails(
    ['predict', '--weights', bad, '--num-classes', '10', png],
    `${bad}: zip entry "${biggest.name}" fails its CRC-32 check (corrupt file)`,
  );
});

test('error: state dicts with missing keys, extra keys, wrong shapes', async (t) => {
  const pth = fixturePath('googlenet-tv-noaux10.pth');
  if (!pth) return t.skip(missingFixture('googlenet-tv-noaux10.pth'));
  const sd = loadStateDict(pth) as Map<string, StoredTensor>;
  sd.set('classifier.weight', { dtype: 'F32', dims: [2], data: new Float32Array(2) });
  sd.set('module.epoch', { dtype: 'I64', dims: [], data: new BigInt64Array(1) });
  const extra = join(tmp, 'extra.safetensors');
  saveSafetensorsFile(extra, sd);
  await failsAll([
    // Another number of classes: the message names the key and both shapes.
    [
      ['predict', '--weights', pth, '--num-classes', '1000', png],
      `${pth}: "fc.weight" has shape [10, 1024], the model expects [1000, 1024]`,
    ],
    // Another architecture: the 3×3 "5×5" branch of torchvision against the bn preset's true 5×5.
    [
      ['predict', '--weights', pth, '--num-classes', '10', '--preset', 'bn', png],
      `${pth}: "inception3a.branch3.1.conv.weight" has shape [32, 16, 3, 3], the model expects [32, 16, 5, 5]`,
    ],
    // Missing: an aux model from a file without aux heads; the paper preset's conv biases.
    [
      ['export', '--weights', pth, '--num-classes', '10', '--aux', '-o', join(tmp, 'never.safetensors')],
      `${pth}: missing 20 key(s) for preset torchvision: aux1.conv.conv.weight, aux1.conv.bn.weight, aux1.conv.bn.bias, aux1.conv.bn.running_mean, aux1.conv.bn.running_var, …`,
    ],
    [
      ['import', pth, '--num-classes', '10', '--preset', 'paper', '-o', join(tmp, 'never')],
      `${pth}: missing 57 key(s) for preset paper: conv1.conv.bias, conv2.conv.bias, conv3.conv.bias, inception3a.branch1.conv.bias, inception3a.branch2.0.conv.bias, …`,
    ],
    // Extra: keys no GoogLeNet has.
    [['predict', '--weights', extra, '--num-classes', '10', png], `${extra}: unexpected 2 key(s): classifier.weight, module.epoch`],
  ]);
  assert.ok(!existsSync(join(tmp, 'never.safetensors')) && !existsSync(join(tmp, 'never')), 'failed commands write nothing');
});

test('error: an unreadable image and a missing image', async () => {
  const text = join(tmp, 'x.jpg');
  writeFileSync(text, 'this is not a JPEG\n');
  const missing = join(tmp, 'missing.png');
  await failsAll([
    [['predict', '--model', imagenetDir, text], `${text}: not a decodable image (unsupported image format)`],
    [['predict', '--model', imagenetDir, png, missing], `${missing}: no such file`],
    // A folder is streamed (test/predict-folder.test.ts); --on-error stop ends at its first unreadable file.
    [['predict', '--model', imagenetDir, '--on-error', 'stop', tmp], /^googlenet: .*: not a decodable image \(/],
  ]);
});

test('error: unknown preset and bad option values name the option and the value', async () => {
  await failsAll([
    [['summary', '--preset', 'resnet'], '--preset expects one of paper, bn, torchvision, cifar, received "resnet"'],
    [
      ['predict', '--preset', 'resnet', '--weights', 'x.pth', png],
      '--preset expects one of paper, bn, torchvision, cifar, received "resnet"',
    ],
    [['predict', '--model', imagenetDir, '--top-k', '0', png], '--top-k expects an integer ≥ 1, received "0"'],
    [['predict', '--model', imagenetDir, '--top-k', '2.5', png], '--top-k expects an integer ≥ 1, received "2.5"'],
    [
      ['summary', '--num-classes', 'abc'],
      '--num-classes expects an integer in [1, 100000] (the maxNumClasses limit; raise it with GOOGLENET_MAX_NUM_CLASSES), received "abc"',
    ],
    [['summary', '--width', '-1'], '--width expects a number in [0.01, 4], received "-1"'],
    [['summary', '--in-channels', '2'], '--in-channels expects 1 or 3, received "2"'],
    [
      ['export', '--model', imagenetDir, '--format', 'tflite', '-o', join(tmp, 'never')],
      '--format: expected one of safetensors, onnx, web, received "tflite"',
    ],
    [['predict', '--model', imagenetDir, '--crop', '32', png], '--crop: this model takes 64×64 inputs, received 32'],
    [['predict', '--model', imagenetDir, '--weights', 'x.pth', png], '--model and --weights: give one of them, not both'],
    [['predict', png], 'no model: pass --model DIR, --weights NAME (e.g. imagenet), or --weights FILE with --preset and --num-classes'],
    [['predict', '--model', imagenetDir], "missing required argument 'images'"],
    [['frobnicate'], "unknown command 'frobnicate'"],
  ]);
});

test('error: --model pointing to a directory without config.json, a missing one, a bad config', async () => {
  const empty = join(tmp, 'empty-model');
  mkdirSync(empty, { recursive: true });
  const none = join(tmp, 'no-such-model');
  const noWeights = join(tmp, 'no-weights');
  mkdirSync(noWeights, { recursive: true });
  copyFileSync(join(imagenetDir, 'config.json'), join(noWeights, 'config.json'));
  const badPreset = join(tmp, 'bad-preset');
  mkdirSync(badPreset, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(imagenetDir, 'config.json'), 'utf8')) as { model: { preset: string } };
  cfg.model.preset = 'resnet';
  writeFileSync(join(badPreset, 'config.json'), JSON.stringify(cfg));
  await failsAll([
    [['predict', '--model', empty, png], `${join(empty, 'config.json')}: missing — not a googlenet-ts model directory`],
    [['predict', '--model', none, png], `${none}: no such model directory`],
    [['predict', '--model', noWeights, png], `${join(noWeights, 'model.safetensors')}: missing — the model directory has no weights`],
    [
      ['predict', '--model', badPreset, png],
      `${join(badPreset, 'config.json')}: preset: expected one of paper, bn, torchvision, cifar, received "resnet"`,
    ],
  ]);
});

test('error: a .pth whose pickle asks for os.system is refused and never runs', (t) => {
  if (spawnSync(PYTHON, ['-c', 'import pickle, zipfile'], { stdio: 'ignore' }).status !== 0) return t.skip(`${PYTHON} is not available`);
  const marker = join(tmp, 'pwned');
  const evil = join(tmp, 'evil.pth');
  // torch.save's layout: <prefix>/data.pkl (an OrderedDict state dict), <prefix>/version; one value
  // reduces to os.system. Built with the standard library only: no torch needed.
  const r = spawnSync(
    PYTHON,
    [
      '-c',
      `
import collections, os, pickle, sys, zipfile
class Evil:
    def __reduce__(self):
        return (os.system, ('touch ' + sys.argv[2],))
sd = collections.OrderedDict([('fc.weight', Evil())])
with zipfile.ZipFile(sys.argv[1], 'w') as z:
    z.writestr('evil/data.pkl', pickle.dumps(sd, protocol=2))
    z.writestr('evil/version', '3\\n')
`,
      evil,
      marker,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const refusal = `${evil}: refused pickle global "posix.system": a state dict only holds tensors`;
  fails(['predict', '--weights', evil, png], refusal);
  fails(['import', evil, '-o', join(tmp, 'never')], refusal);
  assert.ok(!existsSync(marker), 'the payload must never run');
});
