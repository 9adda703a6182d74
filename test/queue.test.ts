/**
 * `googlenet queue` and `googlenet worker` against a real Redis (Debian's redis-server, started
 * here on a free port, no persistence): 160 images in 8 shards, two worker processes, one killed
 * with SIGKILL mid-run; the collected results equal a single-process `predict` of the same
 * folder (same order, same top-1, logits within 1e-6). Also: an unreachable Redis is one line
 * and exit 1, without hanging. Skipped with a message when redis-server is not installed.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import '../src/runtime/engine-node.js';
import { GoogLeNet } from '../src/models/model.js';
import { saveModelDir } from '../src/weights/model-dir-node.js';
import { MAIN, REPO, cliAsync } from './cli-run.js';

const REDIS = spawnSync('redis-server', ['--version']).status === 0;
const skip = REDIS ? false : 'redis-server is not installed (Debian: apt-get install redis-server)';

let tmp: string;
let model: string;
let photos: string;
let redis: ChildProcess | undefined;
let url: string;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'googlenet-queue-'));
  model = join(tmp, 'model');
  saveModelDir(new GoogLeNet({ preset: 'cifar', width: 0.25, numClasses: 10 }, { seed: 6 }), model);
  photos = join(tmp, 'photos');
  mkdirSync(photos);
  for (let i = 0; i < 160; i++) {
    await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: (i * 37) % 256, g: (i * 11) % 256, b: (i * 73) % 256 } } })
      .png()
      .toFile(join(photos, `p${String(i).padStart(3, '0')}.png`));
  }
  if (!REDIS) return;
  const port = await freePort();
  url = `redis://127.0.0.1:${port}`;
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 50; i++) {
    if (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.includes('PONG')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
});
after(() => {
  redis?.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

function worker(onLine: (text: string, kill: (s: NodeJS.Signals) => void) => void): { child: ChildProcess; done: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', MAIN, 'worker', '--redis', url, '--model', model, '--lock-ms', '1500', '--batch', '8'],
    { cwd: REPO },
  );
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    onLine(err, (s) => child.kill(s));
  });
  return { child, done: new Promise((r) => child.on('close', r)) };
}

interface Line {
  file: string;
  top: { index: number }[];
  logits: number[];
}
const parse = (text: string): Line[] =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);

test('two workers, one killed mid-run: the collected results equal a single-process predict', { skip }, async () => {
  const out = join(tmp, 'shared');
  const sub = await cliAsync(['queue', 'submit', photos, '--redis', url, '--name', 'run1', '--out-dir', out, '--shard-size', '20']);
  assert.equal(sub.status, 0, sub.stderr);
  assert.match(sub.stderr, /run run1: 160 files in 8 shards/);
  let killed = false;
  const a = worker((text, kill) => {
    if (!killed && /shard run1:\d+: 20 files/.test(text)) {
      killed = true;
      kill('SIGKILL'); // mid-shard: its lock expires and the stall check hands the shard on
    }
  });
  const b = worker(() => undefined);
  const single = cliAsync(['predict', photos, '--model', model, '--logits', '--out', join(tmp, 'single.jsonl')]);
  assert.equal(await a.done, null);
  assert.ok(killed);
  let status: { counts: Record<string, number>; failed: unknown[] } = { counts: {}, failed: [] };
  for (let i = 0; i < 120 && status.counts['completed'] !== 8; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const s = await cliAsync(['queue', 'status', 'run1', '--redis', url]);
    status = JSON.parse(s.stdout) as typeof status;
  }
  b.child.kill('SIGTERM');
  assert.equal(await b.done, 0);
  assert.equal(status.counts['completed'], 8, JSON.stringify(status));
  assert.deepEqual(status.failed, []);
  const merged = join(tmp, 'merged.jsonl');
  const c = await cliAsync(['queue', 'collect', 'run1', '--redis', url, '--out', merged]);
  assert.equal(c.status, 0, c.stderr);
  assert.equal((await single).status, 0);
  const want = parse(readFileSync(join(tmp, 'single.jsonl'), 'utf8'));
  const got = parse(readFileSync(merged, 'utf8'));
  assert.deepEqual(
    got.map((l) => l.file),
    want.map((l) => l.file),
  );
  got.forEach((g, i) => {
    assert.equal(g.top[0]!.index, want[i]!.top[0]!.index, g.file);
    g.logits.forEach((v, j) => assert.ok(Math.abs(v - want[i]!.logits[j]!) <= 1e-6, `${g.file} logit ${j}: ${v} vs ${want[i]!.logits[j]}`));
  });
});

test(
  'queue bad input: unreachable Redis, bad URL, unknown run, no images, unwritable results folder — one line each, exit 1',
  { skip },
  async () => {
    const port = await freePort(); // nothing listens there
    const cases: [string[], RegExp][] = [
      [
        ['queue', 'status', 'run1', '--redis', `redis://127.0.0.1:${port}`],
        new RegExp(`^googlenet: cannot reach Redis at redis://127.0.0.1:${port} \\(ECONNREFUSED\\)$`),
      ],
      [['worker', '--redis', `redis://127.0.0.1:${port}`, '--model', model], /^googlenet: cannot reach Redis at .* \(ECONNREFUSED\)$/],
      [
        ['queue', 'status', 'run1', '--redis', 'localhost:6379'],
        /^googlenet: --redis: expected a redis:\/\/ URL, received "localhost:6379"$/,
      ],
      [['queue', 'status', 'nope', '--redis', url], /^googlenet: no run named "nope" on this Redis$/],
      [['queue', 'submit', join(tmp, 'model'), '--redis', url, '--name', 'empty', '--out-dir', tmp], /^googlenet: no images in /],
      [
        ['queue', 'submit', photos, '--redis', url, '--name', 'x', '--out-dir', join(model, 'config.json', 'out')],
        /^googlenet: .*config\.json\/out: the results folder cannot be written \(ENOTDIR\)$/,
      ],
    ];
    const runs = await Promise.all(cases.map(([args]) => cliAsync(args)));
    runs.forEach((r, i) => {
      assert.equal(r.status, 1, `${cases[i]![0].join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.split('\n').length, 2, r.stderr);
      assert.match(r.stderr.trimEnd(), cases[i]![1]);
    });
  },
);

test('a shard that keeps failing ends in the failed set with its error, shown by status', { skip }, async () => {
  const out = join(tmp, 'shared-bad');
  const sub = await cliAsync(['queue', 'submit', photos, '--redis', url, '--name', 'bad', '--out-dir', out, '--shard-size', '200']);
  assert.equal(sub.status, 0, sub.stderr);
  writeFileSync(join(out, 'bad'), 'a file where the run folder should be'); // every attempt's write fails
  const w = worker(() => undefined);
  let status: { counts: Record<string, number>; failed: { shard: string; error: string }[] } = { counts: {}, failed: [] };
  for (let i = 0; i < 60 && status.counts['failed'] !== 1; i++) {
    await new Promise((r) => setTimeout(r, 500));
    status = JSON.parse((await cliAsync(['queue', 'status', 'bad', '--redis', url])).stdout) as typeof status;
  }
  w.child.kill('SIGTERM');
  assert.equal(await w.done, 0);
  assert.equal(status.failed.length, 1, JSON.stringify(status));
  assert.equal(status.failed[0]!.shard, 'bad#0');
  assert.match(status.failed[0]!.error, /EEXIST|ENOTDIR/);
  const c = await cliAsync(['queue', 'collect', 'bad', '--redis', url, '--out', join(tmp, 'bad.jsonl')]);
  assert.equal(c.status, 1);
  assert.match(c.stderr, /^googlenet: run "bad" is not finished: 1 of 1 shards have no results yet \(e\.g\. shard 0\)\n$/);
});
