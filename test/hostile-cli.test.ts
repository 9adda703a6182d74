/**
 * Issue 12's examples run through the real `googlenet` command: every hostile file or option
 * ends with one line on stderr and exit 1 (or a correct result), never a JS-internal message, a
 * signal, a hang or a stack trace. Small random models stand in for real ones.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import '../src/runtime/engine-node.js';
import { GoogLeNet } from '../src/models/model.js';
import { saveModelDir } from '../src/weights/model-dir-node.js';
import { parseSafetensors, writeSafetensors } from '../src/weights/safetensors.js';
import { MAIN, REPO, cli, cliAsync, cliMeasured, type Run } from './cli-run.js';
import { gzippedZeros, hugeShapeSafetensors, idxHeader, nestedHeaderSafetensors, pthBomb, pthStrideZero } from './hostile-files.js';
import { encodeIdx } from '../src/data/idx.js';

let tmp: string;
let model: string;
let png: string;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'googlenet-hostile-'));
  model = join(tmp, 'model');
  saveModelDir(new GoogLeNet({ preset: 'cifar', width: 0.125, numClasses: 10 }, { seed: 1 }), model);
  png = join(tmp, 'a.png');
  await sharp(Buffer.alloc(40 * 30 * 3, 90), { raw: { width: 40, height: 30, channels: 3 } })
    .png()
    .toFile(png);
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Exit 1, nothing on stdout, one line on stderr matching `message`, no stack trace, no JS-internal text. */
function cleanFailure(args: string[], r: Run, message: RegExp): void {
  const what = `googlenet ${args.join(' ')}`;
  assert.equal(r.status, 1, `${what}: exit code (stderr: ${r.stderr})`);
  assert.equal(r.stdout, '', `${what}: stdout`);
  assert.equal(r.stderr.split('\n').length, 2, `${what}: one line expected, got:\n${r.stderr}`);
  assert.doesNotMatch(
    r.stderr,
    /RangeError|TypeError|is not a function|Cannot read properties|Invalid typed array|BigInt|allocation failed/,
  );
  assert.match(r.stderr, message, what);
}

/** Checkpoint metadata, loosely typed so that tests can break any field. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Meta = Record<string, any>;

/** Runs the cases, two at a time (CI has two cores). */
async function failAll(cases: [string[], RegExp][]): Promise<void> {
  for (let i = 0; i < cases.length; i += 2) {
    const batch = cases.slice(i, i + 2);
    const runs = await Promise.all(batch.map(([a]) => cliAsync(a)));
    batch.forEach(([a, m], j) => cleanFailure(a, runs[j]!, m));
  }
}

/** A config.json, loosely typed so that tests can break any field. */
type Cfg = { version: unknown; labels: unknown; model: { numClasses: unknown } | null; preprocess: { mean: unknown; resize: unknown } };

/** A copy of the model directory with `edit` applied to its config.json. */
function editedModel(name: string, edit: (c: Cfg) => void): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const c = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')) as Cfg;
  edit(c);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(c));
  writeFileSync(join(dir, 'model.safetensors'), readFileSync(join(model, 'model.safetensors')));
  return dir;
}

test('config.json: preprocess.mean as a string, a huge resize, version -1, labels ≠ numClasses', async () => {
  const meanString = editedModel('mean-string', (c) => (c.preprocess.mean = '0.5'));
  const hugeResize = editedModel('huge-resize', (c) => (c.preprocess.resize = 1e9));
  const versionNeg = editedModel('version-neg', (c) => (c.version = -1));
  const labels = editedModel('labels', (c) => (c.labels = ['a', 'b', 'c']));
  const classes = editedModel('classes', (c) => (c.model!.numClasses = 1e9));
  const nullModel = editedModel('null-model', (c) => (c.model = null));
  await failAll([
    [['predict', '--model', meanString, png], /config\.json: "preprocess\.mean" must be an array of 1 or 3 numbers, found "0\.5"/],
    [['predict', '--model', hugeResize, png], /config\.json: "preprocess\.resize" 1000000000 is more than the limit maxResize is 4,096/],
    [['predict', '--model', versionNeg, png], /config\.json: format version -1 is not a version/],
    [['predict', '--model', labels, png], /config\.json: 3 labels for a model with 10 classes/],
    [['predict', '--model', classes, png], /numClasses: 1000000000 classes is more than the limit maxNumClasses/],
    [['predict', '--model', nullModel, png], /config\.json: missing "model"/],
  ]);
});

test('a flipped byte in the weights of a model directory is refused by its checksum', async () => {
  const dir = editedModel('flipped', () => undefined);
  const weights = readFileSync(join(dir, 'model.safetensors'));
  weights[weights.length - 100]! ^= 0x01;
  writeFileSync(join(dir, 'model.safetensors'), weights);
  await failAll([[['predict', '--model', dir, png], /model\.safetensors: checksum mismatch .* the file is damaged/]]);
});

test('options: --resize 1e9, --num-classes 1e9, --threads 100000, --workers 1000 are refused before allocating', async () => {
  const out = join(tmp, 'never');
  await failAll([
    [['predict', '--model', model, '--resize', '1000000000', png], /^googlenet: --resize expects an integer in \[1, 4096\]/],
    [
      ['train', '--dataset', 'fashion-mnist-subset', '--out', out, '--num-classes', '1000000000'],
      /--num-classes expects an integer in \[1, 100000\]/,
    ],
    [
      ['eval', '--model', model, '--dataset', 'fashion-mnist-subset', '--threads', '100000'],
      /--threads expects an integer in \[1, \d+\] \(at most twice the cores\)/,
    ],
    [['eval', '--model', model, '--dataset', 'fashion-mnist-subset', '--threads', '1000000'], /--threads expects an integer/],
    [
      ['train', '--dataset', 'fashion-mnist-subset', '--out', out, '--workers', '1000'],
      /--workers expects an integer in \[0, \d+\] \(at most four per core\)/,
    ],
    [
      ['predict', '--weights', join(model, 'model.safetensors'), '--num-classes', '1000000000', png],
      /--num-classes expects an integer in \[1, 100000\] \(the maxNumClasses limit/,
    ],
  ]);
});

test('train --input-size 2048: refused before the run starts, with the estimated memory and the limit (not a failure inside ONNX Runtime)', async () => {
  const out = join(tmp, 'huge-input');
  // 100 × 1×2048×2048 through the cifar preset: terabytes of activations.
  await failAll([
    [
      ['train', '--dataset', 'fashion-mnist-subset', '--out', out, '--input-size', '2048', '--max-steps', '1'],
      /^googlenet: --batch-size: a training step on 100×1×2048×2048 needs about [\d.]+ GiB of memory \(estimated\), more than the [\d.]+ GiB onnxruntime-node \(cpu\) can use; use a smaller batch or input size$/m,
    ],
  ]);
  assert.ok(!existsSync(out), 'nothing written');
});

test('train --in-channels that differs from the dataset is said; from the --from model, refused before the run starts', async () => {
  const out = join(tmp, 'in-channels');
  const run = ['train', '--dataset', 'fashion-mnist-subset', '--out', out, '--max-steps', '1', '--width', '0.0625'];
  const converted = cli(...run.map((a) => (a === out ? `${out}-converted` : a)), '--in-channels', '3', '--limit-test', '16');
  assert.equal(converted.status, 0, converted.stderr);
  assert.match(converted.stderr, /^warning: --in-channels 3: fashion-mnist-subset has 1-channel images; they are converted to 3 channels/m);
  await failAll([
    [
      [...run, '--from', model, '--in-channels', '1'],
      /^googlenet: --in-channels 1: the --from model .*model takes 3-channel images; leave --in-channels out$/m,
    ],
  ]);
  assert.ok(!existsSync(out), 'nothing written');
});

test('images: /dev/zero and a FIFO are refused at once; a 20000×20000 PNG is refused from its header', async () => {
  const fifo = join(tmp, 'fifo.png');
  execFileSync('mkfifo', [fifo]);
  // A 1×1 PNG whose IHDR claims 20000×20000 (CRC recomputed): sharp's pixel limit refuses it from the header.
  const big = join(tmp, 'big.png');
  writeFileSync(
    big,
    pngWithSize(
      await sharp(Buffer.alloc(3), { raw: { width: 1, height: 1, channels: 3 } })
        .png()
        .toBuffer(),
      20000,
      20000,
    ),
  );
  await failAll([
    [['predict', '--model', model, '/dev/zero'], /\/dev\/zero: not a regular file/],
    [['predict', '--model', model, fifo], /fifo\.png: not a regular file/],
    [['predict', '--model', model, big], /big\.png: not a decodable image \(.*pixel limit/i],
  ]);
});

test('un-creatable output folders (/proc/x) fail at once instead of spinning in mkdir', async () => {
  await failAll([
    [['export', '--model', model, '-o', '/proc/x/y'], /^googlenet: \/proc\/x: cannot create the folder \(ENOENT at \/proc\/x\)$/m],
    [
      ['train', '--dataset', 'fashion-mnist-subset', '--out', '/proc/x', '--max-steps', '1'],
      /^googlenet: \/proc\/x: cannot create the folder/m,
    ],
  ]);
});

test('5,000 image paths (~200 KB of arguments) no longer crash onnxruntime-node: the command line is relayed', async () => {
  // Before: exit 139 (SIGSEGV) in ORT's session creation once the command line passed ~30 KB.
  // The first image is classified (a session is created), the second is missing: the message
  // names it, so the arguments arrived in order; the remaining 4,998 are never opened.
  const dir = join(tmp, 'many paths with spaces and ü');
  mkdirSync(dir, { recursive: true });
  const paths = Array.from({ length: 5000 }, (_, i) => join(dir, `image ${String(i).padStart(5, '0')}.png`));
  writeFileSync(paths[0]!, readFileSync(png));
  const args = ['predict', '--model', model, ...paths];
  assert.ok(args.join(' ').length > 150_000);
  const r = await cliAsync(args);
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr, `googlenet: ${paths[1]}: no such file\n`);
});

test('a closed stdout (`predict … | head -1`) ends quietly: no EPIPE stack trace', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'predict', '--model', model, png, png, png], { cwd: REPO });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  // Read the first chunk, then close our end, as `head -1` does.
  child.stdout.once('data', () => child.stdout.destroy());
  const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  assert.equal(stderr, '', 'nothing on stderr');
  assert.ok(status === 0 || status === 141, `exit code ${status}`);
});

test('NaN/Inf weights: predict and eval fail with a message instead of NaN% or 100.00 % top-1', async () => {
  const poisoned = (name: string, inChannels: 1 | 3, inputSize: number): string => {
    const m = new GoogLeNet({ preset: 'cifar', width: 0.125, numClasses: 10, inChannels, inputSize }, { seed: 2 });
    const key = [...m.weights.keys()].find((k) => k.endsWith('running_var'))!;
    (m.weights.get(key) as Float32Array).fill(NaN);
    const dir = join(tmp, name);
    saveModelDir(m, dir);
    return dir;
  };
  const rgb = poisoned('inf-rgb', 3, 32);
  const grey = poisoned('inf-grey', 1, 28);
  await failAll([
    [
      ['predict', '--model', rgb, png],
      /the model produced a non-finite logit \(NaN\) for image 1: its weights or batch-norm statistics hold NaN or Infinity/,
    ],
    [['eval', '--model', grey, '--dataset', 'fashion-mnist-subset', '--limit-test', '10', '--no-files'], /non-finite logit/],
  ]);
});

test('eval warns when the model and the dataset differ in channels or in image size', async () => {
  const grey32 = join(tmp, 'grey32');
  saveModelDir(new GoogLeNet({ preset: 'cifar', width: 0.125, numClasses: 10, inChannels: 1, inputSize: 32 }, { seed: 1 }), grey32);
  const evalOf = (m: string): Promise<Run> =>
    cliAsync(['eval', '--model', m, '--dataset', 'fashion-mnist-subset', '--limit-test', '10', '--no-files', '--json']);
  const [channels, size] = await Promise.all([evalOf(model), evalOf(grey32)]);
  assert.equal(channels.status, 0, channels.stderr);
  assert.match(
    channels.stderr,
    /the model takes 3-channel 32×32 images but fashion-mnist-subset has 1-channel 28×28 images: they are converted \(grey replicated/,
  );
  assert.equal(size.status, 0, size.stderr);
  assert.match(
    size.stderr,
    /the model takes 1-channel 32×32 images but fashion-mnist-subset has 1-channel 28×28 images: they are resized; was it trained on this dataset\?/,
  );
});

/** `png` with its IHDR width and height replaced (and the chunk's CRC fixed). */
function pngWithSize(png: Uint8Array, width: number, height: number): Buffer {
  const b = Buffer.from(png);
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  b.writeUInt32BE(crc32(b.subarray(12, 29)), 29);
  return b;
}

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const x of bytes) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

test('a checkpoint whose rng, optimizer, best or config fields are null fails with the field named (resume)', async () => {
  const run = join(tmp, 'run');
  const train = ['train', '--dataset', 'fashion-mnist-subset', '--preset', 'cifar', '--width', '0.125', '--batch-size', '8'];
  const first = await cliAsync([
    ...train,
    '--out',
    run,
    '--max-steps',
    '1',
    '--limit-train',
    '16',
    '--limit-test',
    '8',
    '--workers',
    '0',
    '--progress',
    'none',
  ]);
  assert.equal(first.status, 0, first.stderr);
  const ckpt = readFileSync(join(run, 'checkpoint.safetensors'));
  const { tensors, metadata } = parseSafetensors(ckpt, 'checkpoint');
  const edits: [string, (m: Meta) => void, RegExp][] = [
    ['rng', (m) => (m.rng = null), /checkpoint rng is null, expected four uint32 words/],
    ['optimizer', (m) => (m.optimizer = null), /checkpoint optimizer is null, expected an object/],
    ['best', (m) => (m.best = { top1: null }), /checkpoint best is \{"top1":null\}/],
    ['config', (m) => (m.config = null), /checkpoint config is null, expected an object/],
    // The stored lr is checked with --lr's own declared check, whose words are "a positive number".
    ['lr', (m) => (m.config.optimizer.lr = null), /config\.optimizer\.lr is null, expected a positive number/],
    ['dataset', (m) => (m.config.dataset = null), /config\.dataset is null, expected an object/],
    ['model', (m) => (m.config.model.numClasses = null), /config\.model: numClasses: expected a positive integer, received null/],
  ];
  const cases: [string[], RegExp][] = edits.map(([name, edit, message]) => {
    const meta = JSON.parse(metadata['googlenet-ts']!) as Meta;
    edit(meta);
    const dir = join(tmp, `ckpt-${name}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'checkpoint.safetensors'), writeSafetensors(tensors, { 'googlenet-ts': JSON.stringify(meta) }));
    return [[...train, '--out', dir, '--resume'], message];
  });
  await failAll(cases);
});

test('the worst hostile file of each format fails in one line within 1 GB of memory and 60 s, measured (issue 12)', async () => {
  const MiB = 1 << 20;
  const at = (...p: string[]): string => join(tmp, 'worst', ...p);
  const folder = (name: string, files: Record<string, Uint8Array | string>): string => {
    mkdirSync(at(name), { recursive: true });
    for (const [f, bytes] of Object.entries(files)) writeFileSync(at(name, f), bytes);
    return at(name);
  };
  const fifo = (name: string, file: string): string => {
    mkdirSync(at(name), { recursive: true });
    execFileSync('mkfifo', [at(name, file)]);
    return at(name);
  };
  const grey = at('grey');
  saveModelDir(new GoogLeNet({ preset: 'cifar', width: 0.125, numClasses: 10, inChannels: 1, inputSize: 28 }, { seed: 1 }), grey);
  const config = readFileSync(join(model, 'config.json'));
  const weights = readFileSync(join(model, 'model.safetensors'));
  const labels = encodeIdx([10], new Uint8Array(10));
  // The largest allowed: each just under its limit (maxWeightBytes, maxDatasetFileBytes, maxJsonBytes).
  folder('pth', { 'bomb.pth': pthBomb(2000), 'bomb-max.pth': pthBomb(250), 'stride0.pth': pthStrideZero(22000) });
  const idxBomb = folder('idx-bomb', {
    't10k-images-idx3-ubyte.gz': gzippedZeros(new Uint8Array(0), 3500),
    't10k-labels-idx1-ubyte': labels,
  });
  const idxMax = folder('idx-max', {
    't10k-images-idx3-ubyte.gz': gzippedZeros(idxHeader([1000, 512, 512]), 250),
    't10k-labels-idx1-ubyte': labels,
  });
  const stHeader = folder('st-header', { 'config.json': config, 'model.safetensors': nestedHeaderSafetensors(48 * MiB) });
  const stMax = folder('st-max', { 'config.json': config, 'model.safetensors': nestedHeaderSafetensors(8 * MiB - 16) });
  const cfgMax = folder('cfg-max', { 'config.json': '['.repeat(4 * MiB - 8) + ']'.repeat(4 * MiB - 8), 'model.safetensors': weights });
  const cifar = folder('cifar', {});
  const fd = openSync(join(cifar, 'test_batch.bin'), 'w');
  ftruncateSync(fd, 3 * 2 ** 30); // a sparse 3 GiB file
  closeSync(fd);
  const ckptShape = folder('ckpt-shape', { 'checkpoint.safetensors': hugeShapeSafetensors([100000, 100000]) });
  const fifoWeights = fifo('fifo-weights', 'model.safetensors');
  copyFileSync(join(model, 'config.json'), join(fifoWeights, 'config.json'));
  const fifoCkpt = fifo('fifo-ckpt', 'checkpoint.safetensors');
  const bigPng = at('big.png');
  writeFileSync(bigPng, pngWithSize(readFileSync(png), 60000, 60000));
  const predictW = (f: string): string[] => ['predict', '--weights', f, '--preset', 'cifar', '--num-classes', '10', png];
  const evalOn = (m: string, dataset: string, data: string): string[] => [
    'eval',
    '--model',
    m,
    '--dataset',
    dataset,
    '--data',
    data,
    '--no-files',
  ];
  const resume = (out: string): string[] => ['train', '--dataset', 'fashion-mnist-subset', '--out', out, '--resume'];
  const cases: [string[], RegExp][] = [
    [
      predictW(at('pth', 'bomb.pth')),
      /bomb\.pth: zip entry "archive\/data\/0" brings the archive's inflated size to 2097152000 bytes, more than the limit maxWeightBytes/,
    ],
    [predictW(at('pth', 'bomb-max.pth')), /bomb-max\.pth: missing 331 key\(s\) for preset cifar/],
    [
      predictW(at('pth', 'stride0.pth')),
      /stride0\.pth: tensor "fc\.weight" \(size \[22000, 22000\], stride \[0, 0\]\) brings the tensors read to 1936000000 bytes, more than the limit maxWeightBytes/,
    ],
    [evalOn(grey, 'fashion-mnist', idxBomb), /t10k-images-idx3-ubyte\.gz: bad magic number 0x00000000 at offset 0 after gunzip/],
    [evalOn(grey, 'fashion-mnist', idxMax), /t10k-images-idx3-ubyte\.gz has 1000 images but .*t10k-labels-idx1-ubyte has 10 labels/],
    [['predict', '--model', model, bigPng], /big\.png: not a decodable image \(.*pixel limit/i],
    [
      ['predict', '--model', stHeader, png],
      /model\.safetensors: header of 50331648 bytes is more than the limit maxJsonBytes is 8,388,608/,
    ],
    [['predict', '--model', stMax, png], /model\.safetensors: header is an array, expected a JSON object/],
    [['predict', '--model', cfgMax, png], /config\.json: expected a JSON object/],
    [evalOn(model, 'cifar10', cifar), /test_batch\.bin: 3,221,225,472 bytes is more than the limit maxDatasetFileBytes/],
    [resume(ckptShape), /checkpoint\.safetensors: tensor "fc\.weight" data_offsets \[0, 40000000000\] lie outside the 8 data bytes/],
    [resume(fifoCkpt), /checkpoint\.safetensors: not a regular file \(a device, FIFO or socket\), expected a checkpoint/],
    [
      ['predict', '--model', fifoWeights, png],
      /model\.safetensors: not a regular file \(a device, FIFO or socket\), expected a weight file/,
    ],
    [predictW('/dev/zero'), /\/dev\/zero: not a regular file/],
  ];
  for (let i = 0; i < cases.length; i += 2) {
    const batch = cases.slice(i, i + 2);
    const runs = await Promise.all(batch.map(([a]) => cliMeasured(a, 60)));
    batch.forEach(([a, m], j) => {
      const r = runs[j]!;
      cleanFailure(a, r, m);
      assert.ok(r.maxRss !== null && r.maxRss < 2 ** 30, `googlenet ${a.join(' ')}: peak memory ${r.maxRss} bytes`);
      assert.ok(r.seconds < 60, `googlenet ${a.join(' ')}: ${r.seconds} s`);
    });
  }
});
