/**
 * Entry point of an image-decoder thread of folder predict (`decode-pool-node.ts`): reads (or, for
 * an http(s) URL, downloads) and decodes each file it is sent and applies the model's
 * preprocessing, exactly as the main thread would (`decodeImageSource` then `preprocess`). Not
 * imported by anything else.
 */
import { ImageError } from '../errors.js';
import { answerTasks } from '../thread-pool-node.js';
import type { DecodeInit, DecodeTask } from './decode-pool-node.js';
import { decodeImageSource } from '../image/decode-node.js';
import { preprocess } from './image.js';

answerTasks<DecodeInit, DecodeTask, Float32Array>('preprocess-worker-node.ts', (init) => async ({ file }) => {
  // A file that cannot be read or decoded is an ImageError (the caller skips it); what
  // `preprocess` throws is not about the file and keeps its class.
  const timeout = init.fetchTimeoutMs !== undefined ? { timeoutMs: init.fetchTimeoutMs } : {};
  const img = await decodeImageSource(file, { channels: init.channels, ...timeout }).catch((e: unknown) => {
    throw e instanceof ImageError ? e : new ImageError(`${file}: ${String(e)}`, { file });
  });
  const { data } = preprocess(img, init);
  const own = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
  return { result: own, transfer: [own.buffer as ArrayBuffer] };
});
