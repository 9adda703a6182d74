/**
 * The browser's IDX loading (`src/web/data.ts`: fetch, DecompressionStream, the shared IDX
 * parser) run in Node, where `fetch` and `DecompressionStream` exist: the Fashion-MNIST subset
 * loads, and the limits Node keeps hold in the page too — a gzip bomb stops at the size its IDX
 * header promises (or at `maxDatasetFileBytes` without one), and a download over that limit is
 * refused, by its Content-Length or as it streams, within bounded memory.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { encodeIdx } from '../src/data/idx.js';
import { DatasetFormatError } from '../src/errors.js';
import { setLimits } from '../src/limits.js';
import { fetchIdxDataset, gunzipIdx } from '../src/web/data.js';
import { REPO } from './cli-run.js';

let srv: Server;
let base: string;
const subset = join(REPO, 'assets', 'fashion-mnist-subset');
const labels = readFileSync(join(subset, 'train-labels-idx1-ubyte.gz'));
// A header for 2 images of 28×28 (1,584 bytes), then 64 MiB of zeros: ~64 KB gzipped.
const bomb = gzipSync(Buffer.concat([encodeIdx([2, 28, 28], new Uint8Array(2 * 28 * 28)), Buffer.alloc(64 << 20)]), { level: 9 });

before(async () => {
  const files: Record<string, Uint8Array> = {
    '/subset/train-images-idx3-ubyte.gz': readFileSync(join(subset, 'train-images-idx3-ubyte.gz')),
    '/subset/train-labels-idx1-ubyte.gz': labels,
    '/bomb/train-images-idx3-ubyte.gz': bomb,
    '/bomb/train-labels-idx1-ubyte.gz': labels,
  };
  srv = createServer((req, res) => {
    const url = req.url ?? '';
    if (url.startsWith('/endless/')) {
      // No Content-Length: chunks of zeros until the client stops reading.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(1 << 16);
      const more = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', more);
      };
      res.on('close', () => res.destroy());
      more();
      return;
    }
    if (url.startsWith('/liar/')) {
      res.writeHead(200, { 'content-length': String(5 * 2 ** 30) });
      res.end();
      return;
    }
    const body = files[url];
    if (!body) res.writeHead(404).end();
    else res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
});
after(() => srv.close());

test('the page loads the gzipped Fashion-MNIST subset through fetch and DecompressionStream', async () => {
  const d = await fetchIdxDataset(`${base}/subset/`, 'train');
  assert.deepEqual([d.channels, d.height, d.width], [1, 28, 28]);
  assert.ok(d.size > 0);
});

test('a gzip bomb in the page stops at the size its IDX header promises, within bounded memory', async () => {
  const rss0 = process.memoryUsage().rss;
  await assert.rejects(fetchIdxDataset(`${base}/bomb/`, 'train'), (e: unknown) => {
    assert.ok(e instanceof DatasetFormatError, String(e));
    assert.equal(
      e.message,
      `${base}/bomb/train-images-idx3-ubyte.gz: inflates to more than the 1584 bytes its IDX header promises (a gzip bomb or a damaged file)`,
    );
    return true;
  });
  assert.ok(process.memoryUsage().rss - rss0 < 48 << 20, 'stopped early, not after inflating 64 MiB');
});

test('without an IDX header, inflating stops at once; a header that declares more than maxDatasetFileBytes is refused from the header', async () => {
  await assert.rejects(
    gunzipIdx(gzipSync(Buffer.alloc(8 << 20)), 'zeros.gz'),
    /^DatasetFormatError: zeros\.gz: bad magic number 0x00000000 at offset 0 after gunzip; not an IDX file of unsigned bytes/,
  );
  const before = setLimits({ maxDatasetFileBytes: 1 << 20 });
  try {
    await assert.rejects(
      gunzipIdx(
        gzipSync(Buffer.concat([encodeIdx([2000, 28, 28], new Uint8Array(2000 * 28 * 28)).subarray(0, 16), Buffer.alloc(4 << 20)])),
        'big.gz',
      ),
      /^DatasetFormatError: big\.gz: its IDX header declares 2000×28×28 = 1,568,000 bytes of data, more than the limit maxDatasetFileBytes is 1,048,576/,
    );
    await assert.rejects(
      gunzipIdx(labels.subarray(0, labels.length - 10), 'cut.gz'),
      /^DatasetFormatError: cut\.gz: corrupt or truncated gzip stream/,
    );
  } finally {
    setLimits(before);
  }
});

test('a download over maxDatasetFileBytes is refused: by its Content-Length, or once the stream passes it', async () => {
  const before = setLimits({ maxDatasetFileBytes: 1 << 20 });
  try {
    await assert.rejects(
      fetchIdxDataset(`${base}/liar/`, 'train'),
      /\/liar\/train-images-idx3-ubyte\.gz: 5,368,709,120 bytes is more than the limit maxDatasetFileBytes is 1,048,576/,
    );
    await assert.rejects(
      fetchIdxDataset(`${base}/endless/`, 'train'),
      /\/endless\/train-(images|labels)-idx[13]-ubyte\.gz: 1,\d{3},\d{3} bytes is more than the limit maxDatasetFileBytes is 1,048,576/,
    );
  } finally {
    setLimits(before);
  }
});
