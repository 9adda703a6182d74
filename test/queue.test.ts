/**
 * `googlenet queue` and `googlenet worker` against a real Redis (Debian's redis-server, started
 * here on a free port, no persistence): 160 images in 8 shards, two worker processes, one killed
 * with SIGKILL mid-run; the collected results equal a single-process `predict` of the same
 * folder (same order, same top-1, logits within 1e-6). Pictures behind http(s) URLs (a server
 * here on 127.0.0.1): submitted as arguments and with --list, downloaded by the workers, a 404, a
 * server that never answers and a body over the size limit skipped and counted as unreadable. Also:
 * an unreachable Redis is one line and exit 1, without hanging. And a worker that trusts nothing
 * in Redis (issue 24): run names that climb out refused at submit, status and collect; jobs written
 * straight into the queue with traversal in `run` and `out`, symlinks out of `--out-dir`, wrong
 * types, a 10⁶-entry file list, data over the JSON limit or not JSON, files and URLs outside
 * `--allow` each fail with their reason, nothing is written outside `--out-dir`, and the same
 * worker then finishes a good run equal to `predict`. Skipped with a message when redis-server is
 * not installed.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Queue } from 'bullmq';
import sharp from 'sharp';
import '../src/runtime/engine-node.js';
import { GoogLeNet } from '../src/models/model.js';
import { connectRedis, QUEUE_NAME } from '../src/queue/queue-node.js';
import { saveModelDir } from '../src/weights/model-dir-node.js';
import { MAIN, REPO, cliAsync } from './cli-run.js';

const REDIS = spawnSync('redis-server', ['--version']).status === 0;
const skip = REDIS ? false : 'redis-server is not installed (Debian: apt-get install redis-server)';

let tmp: string;
let model: string;
let photos: string;
let results: string; // the workers' --out-dir
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
  results = join(tmp, 'results');
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
  outDir = results,
): { child: ChildProcess; done: Promise<number | null>; stderr: () => string } {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      MAIN,
      'worker',
      '--redis',
      url,
      '--model',
      model,
      '--out-dir',
      outDir,
      '--lock-ms',
      '1500',
      '--batch',
      '8',
      ...extra,
    ],
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

const runNameRule = (name: string) =>
  new RegExp(
    `^googlenet: --name: a run name is 1 to 64 letters, digits, "_", "-" and "\\." \\(not first\\), received "${name.replace(/[./]/g, '\\$&')}"$`,
  );

test('two workers, one killed mid-run: the collected results equal a single-process predict', { skip }, async () => {
  const out = join(results, 'shared');
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
      [
        ['worker', '--redis', `redis://127.0.0.1:${port}`, '--model', model, '--out-dir', results],
        /^googlenet: cannot reach Redis at .* \(ECONNREFUSED\)$/,
      ],
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
      // Run names that would climb out of --out-dir, or past a separator, in every command (issue 24).
      [['queue', 'submit', photos, '--redis', url, '--name', '..', '--out-dir', join(tmp, 'run-a')], runNameRule('..')],
      [['queue', 'submit', photos, '--redis', url, '--name', '.', '--out-dir', tmp], runNameRule('.')],
      [['queue', 'status', '../x', '--redis', url], runNameRule('../x')],
      [['queue', 'collect', 'a/b', '--redis', url, '--out', join(tmp, 'c.jsonl')], runNameRule('a/b')],
      [
        ['queue', 'submit', photos, '--redis', url, '--name', 'x', '--out-dir', tmp, '--shard-size', '100001'],
        /^googlenet: --shard-size expects an integer in \[1, 100000\] \(the maxShardFiles limit; raise it with GOOGLENET_MAX_SHARD_FILES\), received "100001"$/,
      ],
      // A worker writes only in its own --out-dir, and reads only what --allow lists.
      [['worker', '--redis', url, '--model', model], /^googlenet: required option '--out-dir <dir>' not specified$/],
      [
        ['worker', '--redis', url, '--model', model, '--out-dir', results, '--allow', join(tmp, 'nowhere')],
        /^googlenet: --allow .*nowhere: not a folder$/,
      ],
      [
        ['worker', '--redis', url, '--model', model, '--out-dir', results, '--allow-url-prefix', 'ftp://h/'],
        /^googlenet: --allow-url-prefix: expected an http\(s\) URL, received "ftp:\/\/h\/"$/,
      ],
    ];
    const runs = await Promise.all(cases.map(([args]) => cliAsync(args)));
    runs.forEach((r, i) => {
      assert.equal(r.status, 1, `${cases[i]![0].join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.split('\n').length, 2, r.stderr);
      assert.match(r.stderr.trimEnd(), cases[i]![1]);
    });
    // Shards whose jobs the workers would refuse as too large are refused at submit, before any is queued.
    const big = await cliAsync(
      ['queue', 'submit', photos, '--redis', url, '--name', 'big', '--out-dir', tmp, '--shard-size', '100'],
      undefined,
      {
        GOOGLENET_MAX_JSON_BYTES: '4000',
      },
    );
    assert.equal(big.status, 1, big.stderr);
    assert.match(
      big.stderr,
      /^googlenet: --shard-size: shard 0 would be 4,\d{3} characters of JSON, more than the limit maxJsonBytes is 4,000; raise it with GOOGLENET_MAX_JSON_BYTES=N .*; or give a smaller --shard-size\n$/,
    );
    assert.equal((await cliAsync(['queue', 'status', 'big', '--redis', url])).stderr, 'googlenet: no run named "big" on this Redis\n');
  },
);

test('a shard that keeps failing ends in the failed set with its error, shown by status', { skip }, async () => {
  const out = join(results, 'shared-bad');
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
    const out = join(results, 'shared-web');
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

/** Every path under `dir` (symlinks not followed, `skip` left out) with its size and modification time. */
function tree(dir: string, skip: readonly string[]): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .map((e) => join(dir, e.name))
    .filter((p) => !skip.includes(p))
    .flatMap((p) => {
      const st = lstatSync(p);
      return [`${p} ${st.size} ${st.mtimeMs}`, ...(st.isDirectory() ? tree(p, skip) : [])];
    })
    .sort();
}

test(
  'hostile jobs written straight into Redis each fail with their reason, nothing is written outside --out-dir, and the worker then finishes a good run equal to predict (issue 24)',
  { skip },
  async () => {
    const jail = join(tmp, 'jail'); // the worker's --out-dir
    const outside = join(tmp, 'outside');
    const few = join(tmp, 'few'); // the good run's pictures, in --allow
    const allowed = join(tmp, 'allowed'); // also in --allow, with a link to a picture that is not
    const cmp = join(tmp, 'cmp'); // this test's own outputs
    for (const d of [jail, outside, few, allowed, cmp]) mkdirSync(d);
    for (let i = 0; i < 12; i++) copyFileSync(join(photos, `p${String(i).padStart(3, '0')}.png`), join(few, `f${i}.png`));
    symlinkSync(join(photos, 'p100.png'), join(allowed, 'escape.png'));
    symlinkSync(outside, join(jail, 'link')); // a folder inside --out-dir that leads out of it
    symlinkSync(outside, join(jail, 'lnk')); // a run folder that does
    const conn = await connectRedis(url);
    const queue = new Queue(QUEUE_NAME, { connection: conn });
    const pic = join(few, 'f0.png');
    const ok = { run: 'good', files: [pic], out: jail };
    const hostile: [string, unknown, RegExp][] = [
      ['good#100', { ...ok, shard: 100, run: '..' }, /^refused: run: a run name is 1 to 64 .*, received "\.\."$/],
      [
        'good#101',
        { ...ok, shard: 101, out: `${jail}/../outside` },
        /^refused: the results folder .*\/outside\/good is .*\/outside\/good, outside the worker's --out-dir .*\/jail$/,
      ],
      [
        'good#102',
        { ...ok, shard: 102, out: outside },
        /^refused: the results folder .*\/outside\/good is .*, outside the worker's --out-dir/,
      ],
      [
        'good#103',
        { ...ok, shard: 103, out: join(jail, 'link') },
        /^refused: the results folder .*\/jail\/link\/good is .*\/outside\/good, outside/,
      ],
      [
        'good#104',
        { run: 'good', files: 'not-a-list', shard: 'NaN', out: 42 },
        /^refused: shard: expected a non-negative integer, received "NaN"$/,
      ],
      [
        'good#105',
        { ...ok, shard: 105, files: new Array<string>(1_000_000).fill('/x') },
        /^refused: files: 1,000,000 entries is more than the limit maxShardFiles is 100,000; raise it with GOOGLENET_MAX_SHARD_FILES/,
      ],
      ['good#106', { ...ok, shard: 106 }, /^refused: job data not JSON \(.*\)$/], // its data is replaced below
      ['good#107', { ...ok, shard: 107, files: [join(photos, 'p000.png')] }, /^refused: .*\/photos\/p000\.png is in no --allow folder$/],
      [
        'good#108',
        { ...ok, shard: 108, files: [pic, join(allowed, 'escape.png')] },
        /^refused: .*\/allowed\/escape\.png is in no --allow folder \(it is .*\/photos\/p100\.png\)$/,
      ],
      [
        'good#109',
        { ...ok, shard: 109, files: [`${site}/w00.jpg`] },
        /^refused: http:\/\/127\.0\.0\.1:\d+\/w00\.jpg is under no --allow-url-prefix$/,
      ],
      ['good#110', { ...ok, shard: 5 }, /^refused: the job id "good#110" is not its run and shard, "good#5"$/],
      [
        'good#111',
        { ...ok, shard: 111, files: ['/' + 'a'.repeat(9_000_000)] }, // refused before it is parsed
        /^refused: job data of 9,000,\d{3} characters is more than the limit maxJsonBytes is 8,388,608; raise it with GOOGLENET_MAX_JSON_BYTES/,
      ],
      ['lnk#0', { run: 'lnk', shard: 0, files: [pic], out: jail }, /^refused: the results folder .*\/jail\/lnk is .*\/outside, outside/],
    ];
    for (const [jobId, data] of hostile) await queue.add('shard', data, { jobId });
    await conn.hset(queue.toKey('good#106'), 'data', '{"run": "good", "shard": 106, oops');
    // The good run, queued after them; then the worker.
    const sub = await cliAsync(['queue', 'submit', few, '--redis', url, '--name', 'good', '--out-dir', jail, '--shard-size', '5']);
    assert.equal(sub.status, 0, sub.stderr);
    const single = await cliAsync(['predict', few, '--model', model, '--logits', '--out', join(cmp, 'single.jsonl')]);
    assert.equal(single.status, 0, single.stderr);
    const before = tree(tmp, [jail, cmp]);
    const w = worker(() => undefined, ['--allow', few, allowed, '--allow-url-prefix', `${site}/pics/`], process.env, jail);
    let status: { counts: Record<string, number>; failed: { shard: string; error: string }[] } = { counts: {}, failed: [] };
    for (let i = 0; i < 120 && !(status.counts['completed'] === 3 && status.counts['failed'] === 12); i++) {
      await new Promise((r) => setTimeout(r, 500));
      status = JSON.parse((await cliAsync(['queue', 'status', 'good', '--redis', url])).stdout) as typeof status;
    }
    const lnk = await queue.getJob('lnk#0');
    await queue.close();
    conn.disconnect();
    w.child.kill('SIGTERM');
    assert.equal(await w.done, 0, w.stderr());
    assert.equal(status.counts['completed'], 3, JSON.stringify(status));
    const reasons = new Map([...status.failed.map((f) => [f.shard, f.error] as const), ['lnk#0', lnk?.failedReason ?? '']]);
    for (const [jobId, , why] of hostile) assert.match(reasons.get(jobId) ?? '(not failed)', why, jobId);
    assert.equal(status.failed.length, 12, JSON.stringify(status.failed));
    assert.match(w.stderr(), /googlenet worker: refused job "good#100": run: a run name is/);
    // Nothing written outside --out-dir, and inside it only the good run's shards.
    assert.deepEqual(tree(tmp, [jail, cmp]), before);
    assert.deepEqual(readdirSync(outside), []);
    assert.deepEqual(readdirSync(jail).sort(), ['good', 'link', 'lnk']);
    assert.deepEqual(readdirSync(join(jail, 'good')).sort(), ['shard-000000.jsonl', 'shard-000001.jsonl', 'shard-000002.jsonl']);
    const c = await cliAsync(['queue', 'collect', 'good', '--redis', url, '--out', join(cmp, 'merged.jsonl')]);
    assert.equal(c.status, 0, c.stderr);
    const want = parse(readFileSync(join(cmp, 'single.jsonl'), 'utf8'));
    const got = parse(readFileSync(join(cmp, 'merged.jsonl'), 'utf8'));
    assert.deepEqual(
      got.map((l) => l.file),
      want.map((l) => l.file),
    );
    got.forEach((g, i) => {
      assert.equal(g.top[0]!.index, want[i]!.top[0]!.index, g.file);
      g.logits.forEach((v, j) =>
        assert.ok(Math.abs(v - want[i]!.logits[j]!) <= 1e-6, `${g.file} logit ${j}: ${v} vs ${want[i]!.logits[j]}`),
      );
    });
  },
);
