/**
 * Property tests for every loader (issue 12, "the project's own fuzzing"): a seeded mutator
 * damages valid files of each format — flipped bytes, truncation, inserted bytes, extreme 32-bit
 * sizes, JSON fields replaced by null, strings, negatives, huge numbers — and each result must
 * be a valid value or a GoogLeNetError (typed, one line), never a RangeError, TypeError or
 * another JS-internal error, with memory bounded. The `.pth` reader has its own fuzzer
 * (src/weights/pth-hostile.test.ts). The command line is fuzzed too: random and mutated argv for
 * every sub-command, parsed in-process by the real command tree (src/cli/program.ts), and a
 * handful of them through the real `googlenet` process. Case counts stay small so that CI stays
 * fast; set GOOGLENET_FUZZ_CASES for a longer local run and GOOGLENET_FUZZ_SEED to replay one.
 */
import { Command, CommanderError, type Option } from 'commander';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { buildProgram } from '../src/cli/program.js';
import { encodeCifarRecords, parseCifarRecords } from '../src/data/cifar.js';
import { encodeIdx, idxDataset } from '../src/data/idx.js';
import { GoogLeNetError } from '../src/errors.js';
import { decodeImageBuffer } from '../src/image/decode-node.js';
import { resolveConfig } from '../src/models/config.js';
import { cliAsync } from './cli-run.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/train/checkpoint.js';
import { validateTrainOptions } from '../src/train/config.js';
import { checkModelDirConfig } from '../src/weights/model-dir.js';
import { parseSafetensors, writeSafetensors, type StoredTensor } from '../src/weights/safetensors.js';

const CASES = Number(process.env.GOOGLENET_FUZZ_CASES) || 150;
const SEED = Number(process.env.GOOGLENET_FUZZ_SEED) || 12;

/** mulberry32: a small seeded generator, so that a failing case can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EXTREMES = [0, 1, 0x7fffffff, 0xffffffff, 0x80000000, 100000, 30000];

/** One random damage to `bytes` (a copy). */
function mutateBytes(bytes: Uint8Array, r: () => number): Uint8Array {
  const b = new Uint8Array(bytes); // a copy (Buffer.slice would be a view)
  const at = Math.floor(r() * b.length);
  switch (Math.floor(r() * 6)) {
    case 0: // flip a few bytes
      for (let i = 0; i < 1 + r() * 4; i++) b[Math.floor(r() * b.length)]! ^= 1 << Math.floor(r() * 8);
      return b;
    case 1: // truncate
      return b.subarray(0, at);
    case 2: {
      // insert random bytes
      const extra = Uint8Array.from({ length: 1 + Math.floor(r() * 16) }, () => Math.floor(r() * 256));
      const out = new Uint8Array(b.length + extra.length);
      out.set(b.subarray(0, at));
      out.set(extra, at);
      out.set(b.subarray(at), at + extra.length);
      return out;
    }
    case 3: {
      // an extreme 32-bit value, big- or little-endian, often in a header
      const pos = r() < 0.7 ? Math.floor(r() * Math.min(64, b.length)) : at;
      const v = EXTREMES[Math.floor(r() * EXTREMES.length)]!;
      if (pos + 4 <= b.length) new DataView(b.buffer, b.byteOffset).setUint32(pos, v, r() < 0.5);
      return b;
    }
    case 4: // append garbage
      return Uint8Array.from([...b, ...Array.from({ length: 1 + Math.floor(r() * 8) }, () => Math.floor(r() * 256))]);
    default: // zero a run
      b.fill(0, at, Math.min(b.length, at + Math.floor(r() * 32)));
      return b;
  }
}

const JSON_VALUES: unknown[] = [null, '', 'x', -1, 0, 1e9, 1e300, 0.5, [], {}, true, [1, 2, 3], 'NaN'];

/** A copy of `value` with one field (at any depth) replaced or deleted. */
function mutateJson(value: unknown, r: () => number): unknown {
  const copy = JSON.parse(JSON.stringify(value)) as unknown;
  const holders: [Record<string, unknown> | unknown[], string | number][] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        holders.push([v, i]);
        walk(x);
      });
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        holders.push([v as Record<string, unknown>, k]);
        walk(x);
      }
    }
  };
  walk(copy);
  if (holders.length === 0) return JSON_VALUES[Math.floor(r() * JSON_VALUES.length)];
  const [obj, key] = holders[Math.floor(r() * holders.length)]!;
  if (r() < 0.15 && !Array.isArray(obj)) delete (obj as Record<string, unknown>)[key as string];
  else (obj as Record<string | number, unknown>)[key] = JSON_VALUES[Math.floor(r() * JSON_VALUES.length)];
  return copy;
}

/** Runs `fn` on each mutant: it returns or throws a GoogLeNetError; anything else fails with the case's seed. */
async function property<T>(name: string, make: (r: () => number) => T, fn: (x: T) => unknown | Promise<unknown>): Promise<void> {
  const rss0 = process.memoryUsage().rss;
  for (let i = 0; i < CASES; i++) {
    const r = rng(SEED * 100003 + i);
    const input = make(r);
    try {
      await fn(input);
    } catch (e) {
      if (e instanceof GoogLeNetError) {
        assert.ok(!e.message.includes('\n'), `${name} case ${i}: a one-line message, got ${JSON.stringify(e.message)}`);
        continue;
      }
      assert.fail(`${name} case ${i} (GOOGLENET_FUZZ_SEED=${SEED}): not a GoogLeNetError: ${(e as Error).name}: ${(e as Error).message}`);
    }
  }
  assert.ok(process.memoryUsage().rss - rss0 < 512 << 20, `${name}: memory grew by more than 512 MB`);
}

test('fuzz: safetensors', async () => {
  const tensors = new Map<string, StoredTensor>([
    ['a', { dtype: 'F32', dims: [2, 3], data: Float32Array.from({ length: 6 }, (_, i) => i) }],
    ['b', { dtype: 'I64', dims: [1], data: BigInt64Array.of(7n) }],
    ['c', { dtype: 'F16', dims: [4], data: Float32Array.of(1, 2, 3, 4) }],
  ]);
  const plain = writeSafetensors(tensors, { format: 'pt' });
  const summed = writeSafetensors(tensors, { format: 'pt' }, { checksum: true });
  await property(
    'safetensors',
    (r) => mutateBytes(r() < 0.5 ? plain : summed, r),
    (b) => parseSafetensors(b, 'fuzz.safetensors'),
  );
});

test('fuzz: checkpoint (bytes and metadata fields)', async () => {
  const ckpt = {
    position: { epoch: 1, batch: 0, step: 3 },
    rng: [1, 2, 3, 4],
    config: { lr: 0.1 },
    best: { top1: 0.5, epoch: 0, step: 3, weights: 'raw' as const },
    weights: new Map([['fc.weight', Float32Array.of(1, 2, 3, 4)]]),
    optimizer: { type: 'adam', step: 3, state: new Map([['m', Float32Array.of(0.5)]]) },
    ema: null,
    loop: { epochLossSum: 1 },
  };
  const bytes = encodeCheckpoint(ckpt, '2026-01-01T00:00:00Z');
  const { tensors, metadata } = parseSafetensors(bytes, 'ckpt');
  const meta = JSON.parse(metadata['googlenet-ts']!) as unknown;
  await property(
    'checkpoint',
    (r) => (r() < 0.5 ? mutateBytes(bytes, r) : writeSafetensors(tensors, { 'googlenet-ts': JSON.stringify(mutateJson(meta, r)) })),
    (b) => decodeCheckpoint(b, 'fuzz.ckpt'),
  );
});

test('fuzz: model directory config.json', async () => {
  const config = {
    format: 'googlenet-ts/model',
    version: 1,
    model: resolveConfig({ preset: 'cifar', numClasses: 3, width: 0.25 }),
    labels: ['a', 'b', 'c'],
    preprocess: { resize: 32, crop: 32, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
  };
  await property(
    'config.json',
    (r) => mutateJson(config, r),
    (c) => checkModelDirConfig(c, 'fuzz/config.json'),
  );
});

test('fuzz: IDX image and label files', async () => {
  const images = encodeIdx(
    [3, 4, 5],
    Uint8Array.from({ length: 60 }, (_, i) => i),
  );
  const labels = encodeIdx([3], Uint8Array.of(0, 1, 2));
  const info = { name: 'fuzz', numClasses: 3, classes: ['a', 'b', 'c'], mean: [0.5], std: [0.5] };
  await property(
    'idx',
    (r) => (r() < 0.6 ? [mutateBytes(images, r), labels] : [images, mutateBytes(labels, r)]),
    ([i, l]) => idxDataset({ name: 'fuzz-images', bytes: i! }, { name: 'fuzz-labels', bytes: l! }, info),
  );
});

test('fuzz: CIFAR binary records', async () => {
  const px = Uint8Array.from({ length: 2 * 3072 }, (_, i) => i & 255);
  const ten = encodeCifarRecords('cifar10', px, [1, 9]);
  await property(
    'cifar',
    (r) => mutateBytes(ten, r),
    (b) => {
      const n = Math.floor(b.length / 3073);
      return parseCifarRecords(b, 'fuzz.bin', 'cifar10', { images: new Uint8Array(n * 3072), labels: new Uint8Array(n), start: 0 });
    },
  );
});

test('fuzz: image decoding (PNG, JPEG, lossy and lossless WebP)', async () => {
  const raw = Buffer.from(Uint8Array.from({ length: 12 * 10 * 3 }, (_, i) => (i * 7) & 255));
  const img = (): sharp.Sharp => sharp(raw, { raw: { width: 12, height: 10, channels: 3 } });
  const files = [
    await img().png().toBuffer(),
    await img().jpeg().toBuffer(),
    await img().webp().toBuffer(),
    await img().webp({ lossless: true }).toBuffer(),
  ];
  await property(
    'image',
    (r) => mutateBytes(files[Math.floor(r() * files.length)]!, r),
    async (b) => {
      const out = await decodeImageBuffer(b, 'fuzz.img');
      assert.equal(out.data.length, out.width * out.height * out.channels);
    },
  );
});

test('fuzz: options (model config and training options)', async () => {
  const model = { preset: 'cifar', numClasses: 10, inChannels: 1, width: 0.5, inputSize: 28, dropout: 0.2 };
  await property(
    'resolveConfig',
    (r) => mutateJson(model, r),
    (o) => resolveConfig(o as object),
  );
  const train = {
    dataset: 'fashion-mnist',
    out: 'runs/x',
    epochs: 2,
    batchSize: 10,
    lr: 0.01,
    workers: 1,
    threads: 2,
    numClasses: 10,
    seed: 0,
  };
  await property(
    'validateTrainOptions',
    (r) => mutateJson(train, r),
    (o) => validateTrainOptions(o as never),
  );
});

/** Values a hostile or careless user types after a flag. */
const ARG_VALUES = [
  '1e309',
  '-1e309',
  '-0',
  '0',
  'NaN',
  '',
  ' ',
  '-1',
  '1',
  '3',
  '1.5',
  '0x10',
  '1e9',
  '9007199254740993',
  'Infinity',
  '-',
  '--',
  'x'.repeat(100_000),
  'ü☃\u202e',
  '\u001b[31m',
  'fashion-mnist-subset',
  'cifar',
  'imagenet',
  '/dev/null',
  '/nonexistent/x',
];

/** The leaf commands of the tree (`train`, `queue submit`…), with the path that reaches each. */
function leafCommands(c: Command, path: string[] = []): [string[], Command][] {
  if (c.commands.length === 0) return [[path, c]];
  return c.commands.flatMap((s) => leafCommands(s, [...path, s.name()]));
}

/** A random command line for one sub-command: its own flags (repeated, values missing or hostile), unknown flags, stray words. */
function randomArgv(r: () => number): string[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const leaves = leafCommands(buildProgram());
  const [path, cmd] = pick(leaves);
  const argv = [...path];
  const flags: readonly Option[] = cmd.options;
  for (let n = Math.floor(r() * 9); n > 0; n--) {
    const kind = r();
    if (kind < 0.6) {
      const o = pick(flags);
      const name = o.long ?? o.short!;
      argv.push(name);
      if ((o.required || o.optional) && r() < 0.9) argv.push(pick(ARG_VALUES));
      if (r() < 0.15) argv.push(name, pick(ARG_VALUES)); // the same flag again
    } else if (kind < 0.7) {
      argv.push(`--${pick(['x', 'modle', 'epoch', 'lr-max', 'threads-'])}`); // unknown, or a near-miss of a real flag
    } else if (kind < 0.8) {
      const o = pick(flags);
      argv.push(`${o.long ?? o.short!}=${pick(ARG_VALUES)}`);
    } else {
      argv.push(pick(ARG_VALUES)); // a stray word: an image path, a run name, or junk
    }
  }
  return argv;
}

type ParseResult = { parsed: Record<string, unknown> } | { exitCode: number; stderr: string };

/**
 * Parses `argv` with the real command tree in this process; the commands' actions are replaced
 * by one that keeps the parsed options, so nothing runs (no training, no server, no download).
 */
async function parseInProcess(argv: string[]): Promise<ParseResult> {
  const program = buildProgram();
  let stderr = '';
  let parsed: Record<string, unknown> | null = null;
  const prepare = (c: Command): void => {
    c.exitOverride().configureOutput({ writeErr: (t) => (stderr += t), writeOut: () => undefined });
    if (c.commands.length === 0) c.action(() => void (parsed = c.opts()));
    c.commands.forEach(prepare);
  };
  prepare(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return { exitCode: e.exitCode, stderr };
    throw e;
  }
  return parsed ? { parsed } : { exitCode: 0, stderr };
}

const JS_INTERNAL = /RangeError|TypeError|is not a function|Cannot read properties|Invalid typed array|BigInt|allocation failed|\n\s+at /;

/** The contract of a refused command line: exit 1 and one clean line on stderr. */
function assertCleanRefusal(what: string, status: number | null, stderr: string): void {
  assert.equal(status, 1, `${what}: exit code (stderr: ${stderr.slice(0, 500)})`);
  assert.match(stderr, /^googlenet: [^\n]+\n$/, `${what}: one line expected, got:\n${stderr.slice(0, 2000)}`);
  assert.doesNotMatch(stderr, JS_INTERNAL, what);
  assert.ok(stderr.length < 1200, `${what}: a ${stderr.length}-character message`);
}

test('fuzz: command lines of every sub-command, parsed in-process and (a handful) by the real googlenet process', async () => {
  const refused: string[][] = [];
  for (let i = 0; i < 2 * CASES; i++) {
    const argv = randomArgv(rng(SEED * 7919 + i));
    const what = `case ${i} (GOOGLENET_FUZZ_SEED=${SEED}): googlenet ${argv.map((a) => JSON.stringify(a.slice(0, 40))).join(' ')}`;
    let r: ParseResult;
    try {
      r = await parseInProcess(argv);
    } catch (e) {
      return assert.fail(`${what}: ${(e as Error).name}: ${(e as Error).message}`);
    }
    if ('parsed' in r) {
      for (const [k, v] of Object.entries(r.parsed))
        if (typeof v === 'number') assert.ok(Number.isFinite(v), `${what}: --${k} parsed to ${v}`);
      continue;
    }
    if (r.exitCode === 0) continue; // --help
    assertCleanRefusal(what, r.exitCode, r.stderr);
    refused.push(argv);
  }
  assert.ok(refused.length > CASES / 2, `most random command lines are refused (${refused.length})`);
  // The real process, on a few of the refused ones (refused while parsing: nothing runs): the
  // same one line, no signal; the longest goes through the argv relay (src/cli/argv-relay.ts).
  const longest = refused.reduce((a, b) => (a.join(' ').length >= b.join(' ').length ? a : b));
  const spawned = [longest, ...refused.filter((a) => a !== longest && a.join(' ').length < 2000).slice(0, 5)];
  for (let i = 0; i < spawned.length; i += 2) {
    const batch = spawned.slice(i, i + 2);
    const runs = await Promise.all(batch.map((a) => cliAsync(a)));
    batch.forEach((a, j) => {
      const what = `googlenet ${a.map((x) => JSON.stringify(x.slice(0, 40))).join(' ')}`;
      assert.equal(runs[j]!.stdout, '', what);
      assertCleanRefusal(what, runs[j]!.status, runs[j]!.stderr);
    });
  }
});
