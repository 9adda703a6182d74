import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DatasetFormatError, OptionError } from '../errors.js';
import { encodeCifarRecords } from './cifar.js';
import { openDataset } from './dataset-node.js';
import { DOWNLOADS, download, extractTarGz } from './download-node.js';
import { encodeIdx } from './idx.js';

const tmp = mkdtempSync(join(tmpdir(), 'gl-download-'));
const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

/** A minimal ustar writer (regular files, folders), the format `tar czf` produces. */
function tar(entries: { name: string; data?: Uint8Array; type?: '0' | '5' | '2' }[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const e of entries) {
    const h = new Uint8Array(512);
    const put = (s: string, off: number): void => h.set(new TextEncoder().encode(s), off);
    const size = e.data?.length ?? 0;
    put(e.name, 0);
    put('0000644\0', 100);
    put('0000000\0', 108);
    put('0000000\0', 116);
    put(size.toString(8).padStart(11, '0') + '\0', 124);
    put('00000000000\0', 136);
    put('        ', 148);
    put(e.type ?? '0', 156);
    put('ustar\0', 257);
    put('00', 263);
    let sum = 0;
    for (const v of h) sum += v;
    put(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(h);
    if (e.data) {
      const padded = new Uint8Array(Math.ceil(size / 512) * 512);
      padded.set(e.data);
      blocks.push(padded);
    }
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((a, b) => a + b.length, 0));
  let o = 0;
  for (const b of blocks) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

const pixels = (n: number): Uint8Array => Uint8Array.from({ length: n * 3072 }, (_, i) => (i * 11) % 256);

// Files in the real formats, served by a local HTTP server.
const served = new Map<string, Uint8Array>();
const requests: string[] = [];
const n = 6;
served.set(
  '/mnist/train-images-idx3-ubyte.gz',
  gzipSync(
    encodeIdx(
      [n, 28, 28],
      Uint8Array.from({ length: n * 784 }, (_, i) => i % 256),
    ),
  ),
);
served.set(
  '/mnist/train-labels-idx1-ubyte.gz',
  gzipSync(
    encodeIdx(
      [n],
      Uint8Array.from({ length: n }, (_, i) => i),
    ),
  ),
);
served.set('/mnist/t10k-images-idx3-ubyte.gz', gzipSync(encodeIdx([2, 28, 28], new Uint8Array(2 * 784))));
served.set('/mnist/t10k-labels-idx1-ubyte.gz', gzipSync(encodeIdx([2], Uint8Array.from([3, 4]))));
const c10: { name: string; data?: Uint8Array; type?: '0' | '5' | '2' }[] = [{ name: 'cifar-10-batches-bin/', type: '5' }];
for (let b = 1; b <= 5; b++)
  c10.push({ name: `cifar-10-batches-bin/data_batch_${b}.bin`, data: encodeCifarRecords('cifar10', pixels(2), [b, b + 1]) });
c10.push({ name: 'cifar-10-batches-bin/test_batch.bin', data: encodeCifarRecords('cifar10', pixels(3), [0, 1, 9]) });
c10.push({
  name: 'cifar-10-batches-bin/batches.meta.txt',
  data: new TextEncoder().encode('airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n'),
});
c10.push({ name: 'cifar-10-batches-bin/link', type: '2' });
served.set('/cifar/cifar-10-binary.tar.gz', gzipSync(tar(c10)));
served.set(
  '/cifar/cifar-100-binary.tar.gz',
  gzipSync(
    tar([
      { name: 'cifar-100-binary/train.bin', data: encodeCifarRecords('cifar100', pixels(4), [1, 2, 3, 99], [0, 1, 2, 19]) },
      { name: 'cifar-100-binary/test.bin', data: encodeCifarRecords('cifar100', pixels(1), [5], [5]) },
    ]),
  ),
);
served.set('/evil/cifar-10-binary.tar.gz', gzipSync(tar([{ name: '../escaped.bin', data: new Uint8Array(10) }])));
const good = served.get('/cifar/cifar-10-binary.tar.gz') as Uint8Array;
served.set('/cut/cifar-10-binary.tar.gz', good.subarray(0, Math.floor(good.length / 2)));

const mnistSums = Object.fromEntries([...served].filter(([k]) => k.startsWith('/mnist/')).map(([k, v]) => [k.slice(7), md5(v)]));
const c10Extracts = {
  'cifar-10-binary.tar.gz': [
    ...[1, 2, 3, 4, 5].map((b) => ({ path: `cifar-10-batches-bin/data_batch_${b}.bin`, bytes: 2 * 3073 })),
    { path: 'cifar-10-batches-bin/test_batch.bin', bytes: 3 * 3073 },
  ],
};

let server: Server;
let base = '';
before(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const body = served.get(req.url ?? '');
    if (!body) {
      res.writeHead(404, 'Not Found').end('no such file');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(Buffer.from(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(tmp, { recursive: true, force: true });
});

const noPartFiles = (dir: string): void =>
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.startsWith('.')),
    [],
  );

test("the checksum table holds torchvision's MD5s and the CIFAR binary archives'", () => {
  assert.equal(DOWNLOADS.mnist.files[0]?.md5, 'f68b3c2dcbeaaa9fbdd348bbdeb94873');
  assert.equal(DOWNLOADS['fashion-mnist'].files[3]?.md5, 'bb300cfdad3c16e7a12a480ee83cd310');
  assert.equal(DOWNLOADS.cifar10.files[0]?.md5, 'c32a1d4ab5d03f1284b67883e8d87530');
  assert.equal(DOWNLOADS.cifar100.files[0]?.md5, '03b5dce01913d631647c71ecec9e9cb8');
  for (const d of Object.values(DOWNLOADS)) for (const f of d.files) assert.match(f.md5, /^[0-9a-f]{32}$/);
});

test('downloads, verifies and keeps MNIST files; a second run downloads nothing', async () => {
  const dir = join(tmp, 'mnist');
  const lines: string[] = [];
  const r = await download('mnist', dir, { baseUrl: `${base}/mnist/`, checksums: mnistSums, log: (l) => lines.push(l) });
  assert.deepEqual(r.files, [
    'train-images-idx3-ubyte.gz',
    'train-labels-idx1-ubyte.gz',
    't10k-images-idx3-ubyte.gz',
    't10k-labels-idx1-ubyte.gz',
  ]);
  assert.deepEqual(
    readFileSync(join(dir, 'train-labels-idx1-ubyte.gz')),
    Buffer.from(served.get('/mnist/train-labels-idx1-ubyte.gz') as Uint8Array),
  );
  assert.ok(lines.includes(`downloading ${base}/mnist/train-images-idx3-ubyte.gz`));
  noPartFiles(dir);
  const ds = await openDataset({ name: 'mnist', data: r.dir });
  assert.equal(ds.size, 6);
  const before = requests.length;
  const again = await download('mnist', dir, { baseUrl: `${base}/mnist`, checksums: mnistSums });
  assert.equal(requests.length, before);
  assert.equal(again.skipped.length, 4);
});

test('a wrong checksum is refused and nothing half-written is left', async () => {
  const dir = join(tmp, 'bad-sum');
  const wrong = { ...mnistSums, 'train-images-idx3-ubyte.gz': '0123456789abcdef0123456789abcdef' };
  const got = mnistSums['train-images-idx3-ubyte.gz'];
  await assert.rejects(download('mnist', dir, { baseUrl: `${base}/mnist/`, checksums: wrong }), (e: unknown) => {
    assert.ok(e instanceof DatasetFormatError);
    assert.equal(
      e.message,
      `checksum mismatch for train-images-idx3-ubyte.gz: expected 0123456789abcdef0123456789abcdef, got ${got} (from ${base}/mnist/train-images-idx3-ubyte.gz; the file was deleted)`,
    );
    return true;
  });
  assert.deepEqual(readdirSync(dir), []);
});

test('HTTP errors and unreachable servers are one line naming the URL', async () => {
  const dir = join(tmp, 'http');
  await assert.rejects(download('fashion-mnist', dir, { baseUrl: `${base}/nothing-here/` }), (e: unknown) => {
    assert.ok(e instanceof DatasetFormatError);
    assert.equal(e.message, `cannot download ${base}/nothing-here/train-images-idx3-ubyte.gz: HTTP 404 Not Found`);
    return true;
  });
  await assert.rejects(
    download('fashion-mnist', dir, {
      baseUrl: 'http://offline.invalid/',
      fetchImpl: () => Promise.reject(new TypeError('fetch failed', { cause: new Error('getaddrinfo ENOTFOUND offline.invalid') })),
    }),
    /^DatasetFormatError: cannot download http:\/\/offline.invalid\/train-images-idx3-ubyte.gz: getaddrinfo ENOTFOUND offline.invalid \(offline\?\)$/,
  );
  noPartFiles(dir);
  await assert.rejects(
    download('imagenet', dir),
    (e: unknown) =>
      e instanceof OptionError &&
      e.message ===
        'cannot download "imagenet": expected one of mnist, fashion-mnist, cifar10, cifar100 (image folders are not downloadable)',
  );
});

test('CIFAR-10/100: the tar.gz is verified, extracted into the layout the loader reads, then removed', async () => {
  const dir = join(tmp, 'cifar');
  const sum10 = md5(served.get('/cifar/cifar-10-binary.tar.gz') as Uint8Array);
  const r = await download('cifar10', dir, {
    baseUrl: `${base}/cifar/`,
    checksums: { 'cifar-10-binary.tar.gz': sum10 },
    extracts: c10Extracts,
  });
  assert.equal(r.files.length, 6);
  assert.ok(!existsSync(join(dir, 'cifar-10-binary.tar.gz')));
  assert.ok(!existsSync(join(dir, 'cifar-10-batches-bin', 'link')), 'links are not extracted');
  noPartFiles(dir);
  const train = await openDataset({ name: 'cifar10', data: dir });
  assert.equal(train.size, 10);
  assert.equal((await openDataset({ name: 'cifar10', data: dir, split: 'test' })).get(2) instanceof Promise, false);
  const before = requests.length;
  await download('cifar10', dir, { baseUrl: `${base}/cifar/`, checksums: { 'cifar-10-binary.tar.gz': sum10 }, extracts: c10Extracts });
  assert.equal(requests.length, before, 'already extracted: no download');

  const sum100 = md5(served.get('/cifar/cifar-100-binary.tar.gz') as Uint8Array);
  await download('cifar100', dir, {
    baseUrl: `${base}/cifar/`,
    checksums: { 'cifar-100-binary.tar.gz': sum100 },
    extracts: {
      'cifar-100-binary.tar.gz': [
        { path: 'cifar-100-binary/train.bin', bytes: 4 * 3074 },
        { path: 'cifar-100-binary/test.bin', bytes: 3074 },
      ],
    },
    keepArchive: true,
  });
  assert.ok(existsSync(join(dir, 'cifar-100-binary.tar.gz')));
  const c100 = await openDataset({ name: 'cifar100', data: dir });
  assert.equal(c100.size, 4);
  assert.equal((await c100.get(3)).label, 99);
});

test('archives: a path leaving the folder, a truncated archive and a missing member are refused; nothing is left behind', async () => {
  const evil = join(tmp, 'evil');
  const sumEvil = md5(served.get('/evil/cifar-10-binary.tar.gz') as Uint8Array);
  await assert.rejects(
    download('cifar10', evil, { baseUrl: `${base}/evil/`, checksums: { 'cifar-10-binary.tar.gz': sumEvil }, extracts: c10Extracts }),
    (e: unknown) => {
      assert.ok(e instanceof DatasetFormatError);
      assert.equal(
        e.message,
        `${join(evil, 'cifar-10-binary.tar.gz')}: refusing to extract "../escaped.bin": the path leaves the target folder`,
      );
      return true;
    },
  );
  assert.ok(!existsSync(join(tmp, 'escaped.bin')));
  assert.deepEqual(readdirSync(evil), ['cifar-10-binary.tar.gz']); // the verified archive stays; no extraction debris

  const cutFile = join(tmp, 'cut.tar.gz');
  writeFileSync(cutFile, served.get('/cut/cifar-10-binary.tar.gz') as Uint8Array);
  await assert.rejects(extractTarGz(cutFile, join(tmp, 'cut-out')), (e: unknown) => {
    assert.ok(e instanceof DatasetFormatError);
    assert.match(e.message, new RegExp(`^${cutFile.replace(/[.]/g, '\\.')}: truncated gzip stream \\(unexpected end of file\\)$`));
    return true;
  });

  const partial = join(tmp, 'partial');
  const sum10 = md5(served.get('/cifar/cifar-10-binary.tar.gz') as Uint8Array);
  await assert.rejects(
    download('cifar10', partial, {
      baseUrl: `${base}/cifar/`,
      checksums: { 'cifar-10-binary.tar.gz': sum10 },
      extracts: { 'cifar-10-binary.tar.gz': [{ path: 'cifar-10-batches-bin/data_batch_9.bin', bytes: 1 }] },
    }),
    (e: unknown) =>
      e instanceof DatasetFormatError &&
      e.message === `${join(partial, 'cifar-10-binary.tar.gz')}: the archive has no cifar-10-batches-bin/data_batch_9.bin`,
  );
  assert.deepEqual(readdirSync(partial), ['cifar-10-binary.tar.gz']);
});
