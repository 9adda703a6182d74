/**
 * `googlenet queue` and `googlenet worker` against a real Redis (Debian's redis-server, started
 * here on a free port, no persistence): 160 images in 8 shards, two worker processes, one killed
 * with SIGKILL mid-run; the collected results equal a single-process `predict` of the same
 * folder (same order, same top-1, logits within 1e-6). Pictures behind http(s) URLs (a server
 * here on 127.0.0.1): submitted as arguments and with --list, downloaded by the workers, a 404, a
 * server that never answers and a body over the size limit skipped and counted as unreadable. Also:
 * an unreachable Redis is one line and exit 1, without hanging. Skipped with a message when
 * redis-server is not installed.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
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
let web: string; // JPEGs served over HTTP
let site: string; // http://127.0.0.1:PORT
const held: ServerResponse[] = []; // answers never sent (the server that never answers)
const server = createHttpServer((req, res) => {
  const name = (req.url ?? '').slice(1);
  if (name === 'slow.jpg') held.push(res);
  else if (name === 'big.jpg') {
    // 30,000 bytes, chunked (no Content-Length): refused while reading, past the worker's 20,000-byte limit.
    res.writeHead(200, { 'content-type': 'image/jpeg' });
    for (let i = 0; i < 30; i++) res.write(Buffer.alloc(1000, 0xff));
    res.end();
  } else if (/^w\d\d\.jpg$/.test(name)) res.writeHead(200, { 'content-type': 'image/jpeg' }).end(readFileSync(join(web, name)));
  else res.writeHead(404).end();
});

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
  web = join(tmp, 'web');
  mkdirSync(web);
  for (let i = 0; i < 20; i++) {
    await sharp({ create: { width: 48, height: 36, channels: 3, background: { r: (i * 53) % 256, g: (i * 29) % 256, b: (i * 97) % 256 } } })
      .jpeg()
      .toFile(join(web, `w${String(i).padStart(2, '0')}.jpg`));
  }
  if (!REDIS) return;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  site = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const port = await freePort();
  url = `redis://127.0.0.1:${port}`;
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 50; i++) {
    if (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.includes('PONG')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
});
after(() => {
  for (const res of held) res.destroy();
  server.closeAllConnections();
  server.close();
  redis?.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

function worker(
  onLine: (text: string, kill: (s: NodeJS.Signals) => void) => void,
  extra: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): { child: ChildProcess; done: Promise<number | null>; stderr: () => string } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', MAIN, 'worker', '--redis', url, '--model', model, '--lock-ms', '1500', '--batch', '8', ...extra],
    { cwd: REPO, env },
  );
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    onLine(err, (s) => child.kill(s));
  });
  return { child, done: new Promise((r) => child.on('close', r)), stderr: () => err };
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
  'queue bad input: unreachable Redis, bad URL, unknown run, no images, unwritable results folder, nothing to submit, a bad --list — one line each, exit 1',
  { skip },
  async () => {
    const port = await freePort(); // nothing listens there
    const badList = join(tmp, 'bad-list.txt');
    writeFileSync(badList, `${site}/w00.jpg\n\nhttp://[nope\n`);
    const missingList = join(tmp, 'missing-list.txt');
    writeFileSync(missingList, `${join(tmp, 'gone.jpg')}\n`);
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
      [
        ['queue', 'submit', '--redis', url, '--name', 'x', '--out-dir', tmp],
        /^googlenet: queue submit: give image files, folders or URLs, or --list FILE$/,
      ],
      [
        ['queue', 'submit', '--list', join(tmp, 'no-list.txt'), '--redis', url, '--name', 'x', '--out-dir', tmp],
        /^googlenet: --list .*no-list\.txt: cannot be read \(ENOENT\)$/,
      ],
      [
        ['queue', 'submit', '--list', badList, '--redis', url, '--name', 'x', '--out-dir', tmp],
        /^googlenet: --list .*bad-list\.txt, line 3: not a valid URL "http:\/\/\[nope"$/,
      ],
      [
        ['queue', 'submit', '--list', missingList, '--redis', url, '--name', 'x', '--out-dir', tmp],
        /^googlenet: --list .*missing-list\.txt, line 1: .*gone\.jpg: no such file or folder$/,
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

test(
  'URLs as arguments and in --list: workers download them; a 404, a silent server and an oversized body are skipped and counted',
  { skip },
  async () => {
    const names = readdirSync(web).sort();
    const list = join(tmp, 'urls.txt');
    const listed = [...names.slice(1).map((n) => `${site}/${n}`), `${site}/missing.jpg`, `${site}/slow.jpg`, `${site}/big.jpg`];
    writeFileSync(list, `# pictures on a web server\n${listed.slice(0, 10).join('\n')}\n\n${listed.slice(10).join('\n')}\n`);
    const out = join(tmp, 'shared-web');
    const sub = await cliAsync([
      'queue',
      'submit',
      `${site}/${names[0]}`,
      '--list',
      list,
      '--redis',
      url,
      '--name',
      'web',
      '--out-dir',
      out,
      '--shard-size',
      '8',
    ]);
    assert.equal(sub.status, 0, sub.stderr);
    assert.match(sub.stderr, /run web: 23 files in 3 shards/);
    // A 20,000-byte limit (the JPEGs are far smaller) and 1 s to download.
    const w = worker(() => undefined, ['--fetch-timeout-ms', '1000', '--workers', '1'], {
      ...process.env,
      GOOGLENET_MAX_IMAGE_FILE_BYTES: '20000',
    });
    const single = cliAsync(['predict', web, '--model', model, '--logits', '--out', join(tmp, 'single-web.jsonl')]);
    let status: { counts: Record<string, number>; failed: unknown[]; unreadable: number } = { counts: {}, failed: [], unreadable: 0 };
    for (let i = 0; i < 120 && status.counts['completed'] !== 3; i++) {
      await new Promise((r) => setTimeout(r, 500));
      status = JSON.parse((await cliAsync(['queue', 'status', 'web', '--redis', url])).stdout) as typeof status;
    }
    w.child.kill('SIGTERM');
    assert.equal(await w.done, 0);
    assert.equal(status.counts['completed'], 3, JSON.stringify(status));
    assert.deepEqual(status.failed, []);
    assert.equal(status.unreadable, 3);
    const log = w.stderr();
    assert.match(log, new RegExp(`skipped ${site}/missing\\.jpg: cannot download \\(HTTP 404 Not Found\\)`));
    assert.match(log, new RegExp(`skipped ${site}/slow\\.jpg: no complete answer within 1000 ms`));
    assert.match(log, new RegExp(`skipped ${site}/big\\.jpg: [23]\\d,\\d{3} bytes is larger than the limit maxImageFileBytes is 20,000`));
    const merged = join(tmp, 'merged-web.jsonl');
    const c = await cliAsync(['queue', 'collect', 'web', '--redis', url, '--out', merged]);
    assert.equal(c.status, 0, c.stderr);
    assert.equal((await single).status, 0);
    const want = parse(readFileSync(join(tmp, 'single-web.jsonl'), 'utf8'));
    const got = parse(readFileSync(merged, 'utf8'));
    assert.deepEqual(
      got.map((l) => l.file),
      names.map((n) => `${site}/${n}`),
    );
    got.forEach((g, i) => {
      assert.equal(want[i]!.file, join(web, names[i]!));
      assert.equal(g.top[0]!.index, want[i]!.top[0]!.index, g.file);
      g.logits.forEach((v, j) =>
        assert.ok(Math.abs(v - want[i]!.logits[j]!) <= 1e-6, `${g.file} logit ${j}: ${v} vs ${want[i]!.logits[j]}`),
      );
    });
  },
);
