import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import ts from 'typescript';
import { DatasetFormatError, OptionError } from '../errors.js';
import { MemoryDataset, toShared } from './core.js';
import { openImageFolder } from './folder-node.js';
import { DataLoader, epochOrder, type Batch } from './loader-node.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'gl-loader-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** n synthetic 12×12 greyscale images, labels i mod 10. The same recipe runs in the child processes below. */
const SYNTH = `
function synth(n) {
  const px = new Uint8Array(n * 144);
  for (let i = 0; i < px.length; i++) px[i] = (i * 7 + Math.floor(i / 144) * 13) % 256;
  return px;
}`;
function synth(n: number): Uint8Array {
  const px = new Uint8Array(n * 144);
  for (let i = 0; i < px.length; i++) px[i] = (i * 7 + Math.floor(i / 144) * 13) % 256;
  return px;
}
const info = {
  name: 'synth',
  numClasses: 10,
  classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  channels: 1 as const,
  height: 12,
  width: 12,
  mean: [0.5],
  std: [0.25],
};
const memory = (n: number): MemoryDataset =>
  new MemoryDataset(
    info,
    toShared(synth(n)),
    Uint8Array.from({ length: n }, (_, i) => i % 10),
  );
const TRAIN = { train: true, inputSize: 16, padding: 2, flip: true, photometric: { brightness: 0.4, contrast: 0.4 }, channels: 3 as const };

function digest(b: Batch): string {
  return createHash('sha1')
    .update(new Uint8Array(b.x.buffer, b.x.byteOffset, b.x.byteLength))
    .update(new Uint8Array(b.y.buffer))
    .update(new Uint8Array(b.indices.buffer))
    .digest('hex');
}
async function collect(loader: DataLoader, epoch: number, startBatch = 0): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader.epoch(epoch, { startBatch })) out.push(b);
  return out;
}

test('epochOrder is a pure function of (seed, epoch): a permutation that changes every epoch', () => {
  const a = epochOrder(100, 7, 3);
  assert.deepEqual(a, epochOrder(100, 7, 3));
  assert.deepEqual(
    [...a].sort((x, y) => x - y),
    Array.from({ length: 100 }, (_, i) => i),
  );
  assert.notDeepEqual(a, epochOrder(100, 7, 4));
  assert.notDeepEqual(a, epochOrder(100, 8, 3));
  assert.deepEqual([...epochOrder(5, 7, 3, false)], [0, 1, 2, 3, 4]);
});

test('main thread: batches cover the epoch once; dropLast; same seed → same batches; resume at k = tail of the epoch', async () => {
  const ds = memory(23);
  const a = new DataLoader(ds, { batchSize: 5, transform: TRAIN, seed: 1, workers: 0 });
  assert.equal(a.numBatches, 5);
  const e0 = await collect(a, 0);
  assert.deepEqual(
    e0.map((b) => b.dims),
    [
      [5, 3, 16, 16],
      [5, 3, 16, 16],
      [5, 3, 16, 16],
      [5, 3, 16, 16],
      [3, 3, 16, 16],
    ],
  );
  assert.deepEqual(
    e0.flatMap((b) => [...b.indices]).sort((x, y) => x - y),
    Array.from({ length: 23 }, (_, i) => i),
  );
  for (const b of e0)
    assert.deepEqual(
      [...b.y],
      [...b.indices].map((i) => i % 10),
    );
  const again = await collect(new DataLoader(ds, { batchSize: 5, transform: TRAIN, seed: 1, workers: 0 }), 0);
  assert.deepEqual(again.map(digest), e0.map(digest));
  assert.notDeepEqual((await collect(a, 1)).map(digest), e0.map(digest));
  assert.notDeepEqual(
    (await collect(new DataLoader(ds, { batchSize: 5, transform: TRAIN, seed: 2, workers: 0 }), 0)).map(digest),
    e0.map(digest),
  );
  const tail = await collect(a, 0, 3);
  assert.deepEqual(
    tail.map((b) => b.batch),
    [3, 4],
  );
  assert.deepEqual(tail.map(digest), e0.slice(3).map(digest));
  assert.equal((await collect(a, 0, 5)).length, 0);
  const d = new DataLoader(ds, { batchSize: 5, transform: TRAIN, seed: 1, workers: 0, dropLast: true });
  assert.equal(d.numBatches, 4);
  assert.deepEqual((await collect(d, 0)).map(digest), e0.slice(0, 4).map(digest));
  // Augmentation depends on (seed, epoch, index), not on the batch layout.
  const one = await collect(new DataLoader(ds, { batchSize: 23, transform: TRAIN, seed: 1, workers: 0 }), 0);
  const per = 3 * 16 * 16;
  const k = [...(one[0] as Batch).indices].indexOf((e0[1] as Batch).indices[2] as number);
  assert.deepEqual((one[0] as Batch).x.subarray(k * per, (k + 1) * per), (e0[1] as Batch).x.subarray(2 * per, 3 * per));
});

test('option errors say what was received', async () => {
  const ds = memory(4);
  assert.throws(
    () => new DataLoader(ds, { batchSize: 0, transform: TRAIN }),
    (e: unknown) => e instanceof OptionError && e.message === 'DataLoader batchSize must be a positive integer. Received: batchSize=0',
  );
  assert.throws(
    () => new DataLoader(ds, { batchSize: 2, transform: TRAIN, workers: -1 }),
    /DataLoader workers must be a non-negative integer. Received: workers=-1/,
  );
  const l = new DataLoader(ds, { batchSize: 2, transform: TRAIN, workers: 0 });
  assert.throws(() => l.batchIndices(0, 2), /DataLoader: batch 2 is out of range \[0, 2\)/);
  await assert.rejects(collect(l, 0, 3), /DataLoader: startBatch must be an integer in \[0, 2\]. Received: startBatch=3/);
});

test("worker threads produce exactly the main thread's batches (in-memory dataset), including a resumed epoch", async () => {
  const ds = memory(37);
  const opts = { batchSize: 8, transform: { ...TRAIN, inceptionCrop: true }, seed: 5 };
  const main = new DataLoader(ds, { ...opts, workers: 0 });
  const pool = new DataLoader(ds, { ...opts, workers: 2, prefetch: 3 });
  try {
    assert.equal(pool.workers, 2);
    const m = await collect(main, 2);
    const w = await collect(pool, 2);
    assert.deepEqual(w.map(digest), m.map(digest));
    assert.deepEqual((await collect(pool, 2, 3)).map(digest), m.slice(3).map(digest));
    // Stopping early leaves nothing dangling.
    for await (const b of pool.epoch(3)) {
      assert.equal(b.batch, 0);
      break;
    }
  } finally {
    await pool.close();
  }
  await assert.rejects(pool.getBatch(0, 0), /DataLoader is closed/);
});

const folderRoot = join(tmp, 'folder');
const badFile = join(folderRoot, 'b', '03-bad.png');
before(async () => {
  for (const [c, n] of [
    ['a', 5],
    ['b', 6],
  ] as const) {
    mkdirSync(join(folderRoot, c), { recursive: true });
    for (let i = 0; i < n; i++) {
      const w = 20 + i * 3;
      const h = 18 + ((i * 5) % 9);
      const px = Buffer.alloc(w * h * 3);
      for (let k = 0; k < px.length; k++) px[k] = (k * (i + 3) + (c === 'a' ? 0 : 90)) % 256;
      await sharp(px, { raw: { width: w, height: h, channels: 3 } })
        .png()
        .toFile(join(folderRoot, c, `0${i}.png`));
    }
  }
  writeFileSync(badFile, 'not a png');
});

test('folder dataset: workers decode and augment exactly like the main thread; skip warnings arrive once', async () => {
  const warnings: string[] = [];
  const ds = await openImageFolder(folderRoot, { onUnreadable: 'skip', onWarning: (m) => warnings.push(m) });
  assert.equal(ds.size, 12);
  const opts = { batchSize: 5, transform: { train: true, inputSize: 16, inceptionCrop: true, photometric: true }, seed: 9 };
  const m0 = await collect(new DataLoader(ds, { ...opts, workers: 0 }), 0);
  const w: string[] = [];
  const pool = new DataLoader(ds, { ...opts, workers: 2, onWarning: (msg) => w.push(msg) });
  try {
    const w0 = await collect(pool, 0);
    assert.deepEqual(w0.map(digest), m0.map(digest));
    await collect(pool, 1);
  } finally {
    await pool.close();
  }
  const line = `warning: skipping ${badFile}: not a decodable image (unsupported image format)`;
  assert.deepEqual(warnings, [line]);
  assert.deepEqual(w, [line]);
  assert.equal(
    m0.reduce((s, b) => s + b.dims[0], 0),
    12,
  );
});

test('an unreadable file in a worker rejects with the same DatasetFormatError message as on the main thread', async () => {
  const ds = await openImageFolder(folderRoot);
  const loader = new DataLoader(ds, { batchSize: 12, transform: { train: false, inputSize: 8 }, shuffle: false, workers: 1 });
  try {
    await assert.rejects(loader.getBatch(0, 0), (e: unknown) => {
      assert.ok(e instanceof DatasetFormatError);
      assert.equal(
        e.message,
        `${badFile}: not a decodable image (unsupported image format); pass --on-unreadable skip to skip unreadable files with a warning`,
      );
      return true;
    });
  } finally {
    await loader.close();
  }
});

/** Runs `node [args] --input-type=module -e code` in the repository; resolves with its exit code and output. */
function runNode(args: string[], code: string, timeoutMs = 60000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args, '--input-type=module', '-e', code], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not exit within ${timeoutMs} ms (dangling workers?)\n${out}`));
    }, timeoutMs);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve({ code: c, out });
    });
  });
}

function childScript(loaderUrl: string, coreUrl: string, close: boolean): string {
  return `
import { DataLoader } from ${JSON.stringify(loaderUrl)};
import { MemoryDataset, toShared } from ${JSON.stringify(coreUrl)};
import { createHash } from 'node:crypto';
${SYNTH}
const info = ${JSON.stringify(info)};
const ds = new MemoryDataset(info, toShared(synth(37)), Uint8Array.from({ length: 37 }, (_, i) => i % 10));
const loader = new DataLoader(ds, { batchSize: 8, transform: ${JSON.stringify({ ...TRAIN, inceptionCrop: true })}, seed: 5, workers: 2 });
const digests = [];
for await (const b of loader.epoch(2)) {
  digests.push(createHash('sha1').update(new Uint8Array(b.x.buffer, b.x.byteOffset, b.x.byteLength)).update(new Uint8Array(b.y.buffer)).update(new Uint8Array(b.indices.buffer)).digest('hex'));
  ${close ? '' : 'if (digests.length === 2) break;'}
}
${close ? 'await loader.close();' : ''}
console.log(JSON.stringify(digests));
`;
}

test("a process that never calls close() still exits (idle workers are unref'd)", async () => {
  const code = childScript(pathToFileURL(join(here, 'loader-node.ts')).href, pathToFileURL(join(here, 'core.ts')).href, false);
  const r = await runNode(['--import', 'tsx'], code);
  assert.equal(r.code, 0, r.out);
  const expected = (
    await collect(new DataLoader(memory(37), { batchSize: 8, transform: { ...TRAIN, inceptionCrop: true }, seed: 5, workers: 0 }), 2)
  ).map(digest);
  assert.deepEqual(JSON.parse(r.out.trim().split('\n').pop() as string), expected.slice(0, 2));
});

test('compiled to .js (no tsx), the worker entry next to loader.js gives the same batches', async () => {
  const out = join(repo, 'test-artifacts', `dist-check-${process.pid}`);
  try {
    // The data layer and what it imports outside data/: the shared pixel operations, the decoder (and its downloader and its stream reader), the thread pool.
    const dirFiles = (dir: string): string[] =>
      readdirSync(dir)
        .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
        .map((f) => join(dir, f));
    const files = [
      join(repo, 'src', 'errors.ts'),
      join(repo, 'src', 'rng.ts'),
      join(repo, 'src', 'limits.ts'),
      join(repo, 'src', 'thread-pool-node.ts'),
      join(repo, 'src', 'fetch-node.ts'),
      join(repo, 'src', 'stream.ts'),
      ...dirFiles(join(repo, 'src', 'image')),
      ...dirFiles(here),
    ];
    for (const f of files) {
      const js = ts.transpileModule(readFileSync(f, 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
        fileName: f,
      }).outputText;
      const dest = join(out, f.slice(join(repo, 'src').length + 1).replace(/\.ts$/, '.js'));
      mkdirSync(dirname(dest), { recursive: true });
      writeFileSync(dest, js);
    }
    const code = childScript(
      pathToFileURL(join(out, 'data', 'loader-node.js')).href,
      pathToFileURL(join(out, 'data', 'core.js')).href,
      true,
    );
    const r = await runNode([], code);
    assert.equal(r.code, 0, r.out);
    const expected = (
      await collect(new DataLoader(memory(37), { batchSize: 8, transform: { ...TRAIN, inceptionCrop: true }, seed: 5, workers: 0 }), 2)
    ).map(digest);
    assert.deepEqual(JSON.parse(r.out.trim().split('\n').pop() as string), expected);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
