/**
 * Named and remote weights against a local HTTP server on 127.0.0.1 (no internet here): a real
 * torchvision .pth (torch.save of torchvision's googlenet, 10 classes, random weights) named with
 * its own SHA-256 prefix, served plainly, cut mid-body, corrupted, as 404/500 and through a
 * redirect; the cache, the mirror variable, the registry file, and the one-line errors.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { fetchWeightsFile } from '../src/weights/hub-node.js';
import { ModelLoadError } from '../src/errors.js';
import { relativeError } from '../src/tensor.js';
import { MAIN, REPO, type Run } from './cli-run.js';

const PYTHON = '/usr/bin/python3';
let tmp: string;
let pth: string; // the local file, googlenet-tv10-<sha8>.pth
let name: string;
let bytes: Buffer;
let sha: string;
let image: string;
let server: Local;
let skip: string | undefined;

interface Local {
  url: string;
  requests: { path: string; range: string | undefined }[];
  close(): Promise<void>;
}

/** Serves `bytes` as /files/NAME (Range-aware), /cut/NAME (first answer closes mid-body), /corrupt/NAME, /404/, /500/, /redirect/NAME. */
function serve(): Promise<Local> {
  const requests: Local['requests'] = [];
  const cut = new Set<string>();
  const srv: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    requests.push({ path, range: req.headers.range });
    const [, kind, file] = /^\/([^/]+)\/([^?]*)/.exec(path) ?? [];
    if (kind === '404' || kind === '500' || file !== name) {
      res.writeHead(kind === '500' ? 500 : 404).end();
      return;
    }
    if (kind === 'redirect') {
      res.writeHead(302, { Location: `/files/${name}` }).end();
      return;
    }
    if (kind === 'cut' && !cut.has(path)) {
      cut.add(path);
      res.writeHead(200, { 'Content-Length': bytes.length });
      res.write(bytes.subarray(0, bytes.length >> 1), () => res.socket?.destroy());
      return;
    }
    const body = kind === 'corrupt' ? Buffer.from(bytes.map((b, i) => (i === 1000 ? b ^ 0xff : b))) : bytes;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m) {
      const from = Number(m[1]);
      res.writeHead(206, { 'Content-Length': body.length - from, 'Content-Range': `bytes ${from}-${body.length - 1}/${body.length}` });
      res.end(body.subarray(from));
      return;
    }
    res.writeHead(200, { 'Content-Length': body.length }).end(body);
  });
  return new Promise((resolve) =>
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        requests,
        close: () => new Promise<void>((r) => srv.close(() => r())),
      });
    }),
  );
}

/** Runs `googlenet …` without blocking this process (the server lives here), with extra environment. */
function run(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: REPO, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** A fresh cache folder. */
let caches = 0;
const cache = (): string => join(tmp, `cache-${++caches}`);

/** Exit 1, nothing on stdout, exactly one line on stderr matching `message`. */
function oneLineFailure(r: Run, message: RegExp): void {
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.split('\n').length, 2, `one line expected:\n${r.stderr}`);
  assert.match(r.stderr, message);
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'weights-hub-'));
  const raw = join(tmp, 'raw.pth');
  const py = spawnSync(
    PYTHON,
    [
      '-c',
      'import sys, torch, torchvision\ntorch.manual_seed(0)\nm = torchvision.models.googlenet(num_classes=10, aux_logits=False, init_weights=True)\ntorch.save(m.state_dict(), sys.argv[1])',
      raw,
    ],
    { encoding: 'utf8' },
  );
  if (py.status !== 0) {
    skip = `needs python3-torch and python3-torchvision at ${PYTHON}: ${(py.stderr || py.error?.message || '').split('\n').slice(-2).join(' ')}`;
    return;
  }
  bytes = readFileSync(raw);
  sha = createHash('sha256').update(bytes).digest('hex');
  name = `googlenet-tv10-${sha.slice(0, 8)}.pth`;
  pth = join(tmp, name);
  renameSync(raw, pth);
  image = join(tmp, 'cat.png');
  const px = Buffer.alloc(300 * 260 * 3, 0).map((_, i) => (i * 7) & 255);
  await sharp(px, { raw: { width: 300, height: 260, channels: 3 } })
    .png()
    .toFile(image);
  server = await serve();
});

after(async () => {
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

test('weights download URL: progress lines on stderr, the path on stdout, verified against the name’s hash, then offline from the cache', async (t) => {
  if (skip) return t.skip(skip);
  const dir = cache();
  const url = `${server.url}/files/${name}`;
  const r = await run(['weights', 'download', url], { GOOGLENET_HOME: dir });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${join(dir, name)}\n`);
  assert.match(r.stderr, new RegExp(`^downloading ${url} \\(\\d+\\.\\d MB\\)$`, 'm'));
  assert.match(r.stderr, new RegExp(`^${name}: 100% \\(`, 'm'));
  assert.match(r.stderr, new RegExp(`^saved ${join(dir, name)} \\(sha256 ${sha.slice(0, 8)}… verified\\)$`, 'm'));
  assert.equal(
    createHash('sha256')
      .update(readFileSync(join(dir, name)))
      .digest('hex'),
    sha,
  );
  assert.deepEqual(readdirSync(dir), [name], 'no partial file left');
  // --json: stdout is the JSON document alone; a second run uses the cache without the server.
  const other = await serve();
  const url2 = `${other.url}/files/${name}`;
  const dir2 = cache();
  assert.equal((await run(['weights', 'download', url2], { GOOGLENET_HOME: dir2 })).status, 0);
  await other.close();
  const again = await run(['weights', 'download', '--json', url2], { GOOGLENET_HOME: dir2 });
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual(JSON.parse(again.stdout), { name: url2, path: join(dir2, name), kind: 'file' });
  assert.equal(again.stderr, '', 'no download the second time');
});

test('predict --weights URL gives the logits of --weights FILE (and a redirect is followed)', async (t) => {
  if (skip) return t.skip(skip);
  const dir = cache();
  const args = ['predict', '--json', '--logits', '--num-classes', '10', image];
  const [viaUrl, viaFile] = await Promise.all([
    run([...args, '--weights', `${server.url}/redirect/${name}`], { GOOGLENET_HOME: dir }),
    run([...args, '--weights', pth], { GOOGLENET_HOME: cache() }),
  ]);
  assert.equal(viaUrl.status, 0, viaUrl.stderr);
  assert.equal(viaFile.status, 0, viaFile.stderr);
  const logits = (r: Run): number[] => (JSON.parse(r.stdout) as { logits: number[] }[])[0]!.logits;
  assert.equal(logits(viaUrl).length, 10);
  assert.equal(relativeError(logits(viaUrl), logits(viaFile)), 0);
  assert.ok(existsSync(join(dir, name)));
});

test('a corrupted download is refused, deleted, and the message names the expected and received hash', async (t) => {
  if (skip) return t.skip(skip);
  const dir = cache();
  const r = await run(['weights', 'download', `${server.url}/corrupt/${name}`], { GOOGLENET_HOME: dir });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  const bad = createHash('sha256')
    .update(Buffer.from(bytes.map((b, i) => (i === 1000 ? b ^ 0xff : b))))
    .digest('hex');
  assert.match(
    r.stderr,
    new RegExp(
      `^googlenet: ${name}: SHA-256 mismatch: expected ${sha.slice(0, 8)}…, received ${bad} .*the downloaded file was deleted\\n$`,
      'm',
    ),
  );
  assert.deepEqual(readdirSync(dir), [], 'nothing left in the cache');
});

test('an interrupted download keeps its part and resumes with Range (next call, and within one CLI run)', async (t) => {
  if (skip) return t.skip(skip);
  const dir = cache();
  const url = `${server.url}/cut/${name}`;
  await assert.rejects(fetchWeightsFile(url, { cacheDir: dir, retries: 0 }), (e: unknown) => {
    assert.ok(e instanceof ModelLoadError);
    assert.match(e.message, /interrupted after \d+ bytes.*are kept and resumed next time/);
    return true;
  });
  assert.deepEqual(readdirSync(dir), [`.${name}.part`]);
  const kept = readFileSync(join(dir, `.${name}.part`)).length;
  assert.ok(kept > 0 && kept < bytes.length);
  const path = await fetchWeightsFile(url, { cacheDir: dir, retries: 0 });
  assert.equal(createHash('sha256').update(readFileSync(path)).digest('hex'), sha);
  assert.deepEqual(server.requests.filter((q) => q.path === `/cut/${name}`).at(-1)?.range, `bytes=${kept}-`);
  // The CLI retries by itself (twice), so one run gets a file whose connection dropped.
  const r = await run(['weights', 'download', `${url}?again`], { GOOGLENET_HOME: cache() });
  assert.equal(r.status, 0, r.stderr);
});

test('a server answering 404 or 500: one line naming the file, its cache path and how to get it by hand; exit 1', async (t) => {
  if (skip) return t.skip(skip);
  const dir = cache();
  for (const code of ['404', '500']) {
    const r = await run(['predict', '--weights', `${server.url}/${code}/${name}`, image], { GOOGLENET_HOME: dir });
    oneLineFailure(
      r,
      new RegExp(
        `^googlenet: ${name}: not in the cache and cannot be downloaded: HTTP ${code} .*It would be cached as ${join(dir, name)}; .*--weights FILE.*GOOGLENET_WEIGHTS_MIRROR`,
      ),
    );
  }
  assert.ok(!existsSync(join(dir, name)));
});

test('named weights from a registry file through the mirror variable; no network and no cache → one line; unknown name → the names', async (t) => {
  if (skip) return t.skip(skip);
  const registry = join(tmp, 'registry.json');
  const entry = {
    name: 'tv10',
    description: 'test weights',
    url: `https://download.invalid/models/${name}`,
    options: { preset: 'torchvision', numClasses: 10 },
    categories: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'],
  };
  writeFileSync(registry, JSON.stringify({ weights: [entry] }));
  const dir = cache();
  const env = { GOOGLENET_HOME: dir, GOOGLENET_WEIGHTS_REGISTRY: registry };
  const offline = await run(['predict', '--weights', 'tv10', image], env);
  oneLineFailure(
    offline,
    new RegExp(
      `^googlenet: weights "tv10" \\(${name}\\): not in the cache and cannot be downloaded: .*\\(offline\\?\\)\\. It would be cached as ${join(dir, name)}; get https://download.invalid/models/${name} by hand and pass --weights FILE`,
    ),
  );
  const r = await run(['predict', '--json', '--weights', 'tv10', image], { ...env, GOOGLENET_WEIGHTS_MIRROR: `${server.url}/files/` });
  assert.equal(r.status, 0, r.stderr);
  const top = (JSON.parse(r.stdout) as { top: { label: string; index: number }[] }[])[0]!.top;
  assert.equal(top[0]!.label, entry.categories[top[0]!.index]);
  const list = await run(['weights', 'list', '--json'], env);
  const rows = JSON.parse(list.stdout) as { name: string; cached: boolean }[];
  assert.deepEqual(
    rows.map((x) => [x.name, x.cached]),
    [
      ['imagenet', false],
      ['inception_v3', false],
      ['fashion-mnist', true],
      ['tv10', true],
    ],
  );
  oneLineFailure(
    await run(['predict', '--weights', 'tv11', image], env),
    /^googlenet: --weights: unknown weights "tv11"; known names: imagenet, torchvision\/IMAGENET1K_V1, inception_v3, Inception_V3_Weights.IMAGENET1K_V1, torchvision\/inception_v3\/IMAGENET1K_V1, fashion-mnist, tv10 \(or a file, or an http\(s\) URL\)$/m,
  );
});

test('a full disk (a 256 KiB tmpfs as the cache) leaves nothing half-written', async (t) => {
  if (skip) return t.skip(skip);
  const dir = join(tmp, 'full');
  const probe = spawnSync('unshare', ['-rm', 'sh', '-c', `mkdir -p ${dir} && mount -t tmpfs -o size=256k tmpfs ${dir}`]);
  if (probe.status !== 0) return t.skip('needs unshare -rm and mount -t tmpfs (user namespaces) to make a tiny file system');
  const cmd = `mount -t tmpfs -o size=256k tmpfs ${dir} && "${process.execPath}" --import tsx ${MAIN} weights download ${server.url}/files/${name}; echo "rc=$?"; ls -A ${dir}`;
  const r = await new Promise<Run>((resolve) => {
    const child = spawn('unshare', ['-rm', 'sh', '-c', cmd], { cwd: REPO, env: { ...process.env, GOOGLENET_HOME: dir } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
  assert.equal(r.stdout, 'rc=1\n', `exit 1 and an empty cache folder:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /^googlenet: cannot write .*\.part: .*(ENOSPC|no space left).*; the partial file was deleted$/im);
});

test('eval on ImageNet WordNet-id folders: labels follow torchvision order even with a subset of the classes', async () => {
  const { GoogLeNet } = await import('../src/models/model.js');
  const { saveModelDir } = await import('../src/weights/model-dir-node.js');
  await import('../src/runtime/engine-node.js');
  const dir = join(tmp, 'imagenet-small');
  saveModelDir(new GoogLeNet({ preset: 'torchvision', width: 0.25, inputSize: 64 }, { seed: 1 }), dir);
  const val = join(tmp, 'ILSVRC2012', 'val');
  const px = Buffer.alloc(80 * 70 * 3, 90);
  for (const wnid of ['n01440764', 'n15075141']) {
    mkdirSync(join(val, wnid), { recursive: true });
    await sharp(px, { raw: { width: 80, height: 70, channels: 3 } })
      .png()
      .toFile(join(val, wnid, 'a.png'));
  }
  const r = await run(['eval', '--model', dir, '--dataset', 'folder', '--val-data', val, '--data', val, '--no-files', '--json'], {});
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /ImageNet folders: 2 WordNet-id classes mapped to torchvision's 1000-class order/);
  const m = JSON.parse(r.stdout) as { n: number; perClass?: unknown[]; confusion?: number[][] };
  assert.equal(m.n, 2);
  // The images of n15075141 (toilet tissue) are class 999: the confusion matrix has 1000 rows, one image in row 999.
  assert.equal(m.confusion?.length, 1000);
  assert.equal(
    m.confusion?.[999]?.reduce((a, b) => a + b, 0),
    1,
  );
  assert.equal(
    m.confusion?.[0]?.reduce((a, b) => a + b, 0),
    1,
  );
  // A folder that is no ImageNet-1K WordNet id is refused by name.
  mkdirSync(join(val, 'n99999999'));
  await sharp(px, { raw: { width: 80, height: 70, channels: 3 } })
    .png()
    .toFile(join(val, 'n99999999', 'a.png'));
  oneLineFailure(
    await run(['eval', '--model', dir, '--dataset', 'folder', '--val-data', val, '--data', val, '--no-files'], {}),
    /^googlenet: --data .*val: 1 folder\(s\) are not ImageNet-1K WordNet ids \(n99999999…\)$/m,
  );
});

test('names work wherever --weights FILE does: train --from, export --weights, import', async () => {
  const out = join(tmp, 'ft');
  const [train, exported, imported] = await Promise.all([
    run(
      [
        'train',
        '--dataset',
        'fashion-mnist-subset',
        '--from',
        'fashion-mnist',
        '--epochs',
        '1',
        '--max-steps',
        '1',
        '--limit-train',
        '20',
        '--limit-test',
        '10',
        '--progress',
        'none',
        '--out',
        out,
        '--json',
      ],
      {},
    ),
    run(['export', '--weights', 'fashion-mnist', '--format', 'onnx', '-o', join(tmp, 'fm.onnx')], {}),
    run(['import', 'fashion-mnist', '-o', join(tmp, 'fm-dir')], {}),
  ]);
  assert.equal(train.status, 0, train.stderr);
  const cfg = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { config: { from: { path: string } } };
  assert.equal(cfg.config.from.path, join(REPO, 'models', 'fashion-mnist'));
  assert.equal(exported.status, 0, exported.stderr);
  assert.ok(readFileSync(join(tmp, 'fm.onnx')).length > 10000);
  assert.equal(imported.status, 0, imported.stderr);
  const labels = (JSON.parse(readFileSync(join(tmp, 'fm-dir', 'config.json'), 'utf8')) as { labels: string[] }).labels;
  assert.equal(labels[9], 'Ankle boot');
});
