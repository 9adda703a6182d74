/**
 * `fetchBytes`, the bounded in-memory download of queue workers: the body as sent, an HTTP error,
 * a declared size over the limit refused before the body is read, a body that grows past it
 * stopped, a network failure and a timeout, each an error that starts with the URL.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImageError } from './errors.js';
import { fetchBytes, type FetchLike } from './fetch-node.js';

const URL_ = 'http://pictures.invalid/a.jpg';

/** A fetch that answers `body` in chunks of 100 bytes; `pulled` counts the chunks read. */
function serve(body: Uint8Array, init: ResponseInit = {}): { fetchImpl: FetchLike; pulled: () => number } {
  let pulled = 0;
  const fetchImpl: FetchLike = () => {
    let at = 0;
    const stream = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          if (at >= body.length) return c.close();
          pulled++;
          c.enqueue(body.subarray(at, (at += 100)));
        },
      },
      { highWaterMark: 0 },
    ); // pulled only when read
    return Promise.resolve(new Response(stream, init));
  };
  return { fetchImpl, pulled: () => pulled };
}

test('fetchBytes: the body, or an error that names the URL and the reason', async () => {
  const body = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
  assert.deepEqual(await fetchBytes(URL_, { maxBytes: 1000, fetchImpl: serve(body).fetchImpl }), body);

  const e404 = serve(body, { status: 404, statusText: 'Not Found' });
  await assert.rejects(fetchBytes(URL_, { maxBytes: 1000, fetchImpl: e404.fetchImpl, error: ImageError }), (e: unknown) => {
    return e instanceof ImageError && e.message === `${URL_}: cannot download (HTTP 404 Not Found)` && e.file === URL_;
  });

  const declared = serve(body, { headers: { 'content-length': '1000' } });
  await assert.rejects(fetchBytes(URL_, { maxBytes: 999, limitText: 'the limit', fetchImpl: declared.fetchImpl }), {
    message: `${URL_}: 1,000 bytes is larger than the limit`,
  });
  assert.equal(declared.pulled(), 0, 'refused from the header, before the body');

  const growing = serve(new Uint8Array(100_000));
  await assert.rejects(fetchBytes(URL_, { maxBytes: 450, fetchImpl: growing.fetchImpl }), {
    message: `${URL_}: 500 bytes is larger than 450 bytes`,
  });
  assert.ok(growing.pulled() < 10, `stopped past the limit, read ${growing.pulled()} chunks`);

  const offline: FetchLike = () =>
    Promise.reject(new TypeError('fetch failed', { cause: new Error('getaddrinfo ENOTFOUND pictures.invalid') }));
  await assert.rejects(fetchBytes(URL_, { maxBytes: 10, fetchImpl: offline }), {
    message: `${URL_}: cannot download (getaddrinfo ENOTFOUND pictures.invalid)`,
  });

  const silent: FetchLike = (_u, init) =>
    new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
  await assert.rejects(fetchBytes(URL_, { maxBytes: 10, timeoutMs: 50, fetchImpl: silent }), {
    message: `${URL_}: no complete answer within 50 ms`,
  });
});
