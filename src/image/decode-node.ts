/**
 * Image decoding for Node.js, with sharp (libvips): JPEG, PNG, WebP, GIF, TIFF, AVIF and anything
 * else sharp reads. The result is what PIL gives for `Image.open(path)` followed by `convert('RGB')`
 * or, for greyscale files, mode `L`:
 *  - greyscale stays 1 channel (PIL `L`); ask for `channels: 3` to replicate it (`convert('RGB')`);
 *  - an alpha channel is dropped, not composited (PIL `convert('RGB')` on RGBA / `LA`);
 *  - EXIF orientation is ignored, pixels are returned as stored (PIL does not auto-rotate);
 *  - an embedded ICC profile is ignored, no colour conversion (PIL does not apply it);
 *  - 16-bit images are reduced to 8 bits by sharp (PIL's `I;16` would clip instead);
 *  - multi-page / animated files give their first page, as `Image.open`.
 * Browser code decodes with a canvas instead (`web/decode.ts`) and shares the rest of `image/`.
 *
 * The one place Node turns image files into pixels: `predict`, `classify` and the image-folder
 * dataset (`data/folder-node.ts`, which asks for `channels: 3`) all decode here; queue workers
 * also decode pictures behind http(s) URLs here (`decodeImageSource`).
 */
import { constants as fsConstants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import sharp from 'sharp';
import { ImageError } from '../errors.js';
import { fetchBytes } from '../fetch-node.js';
import { toChannels, type RgbImage } from './image.js';
import { getLimits, raiseHint } from '../limits.js';

/** Options of `decodeImageFile` / `decodeImageBuffer`. */
export interface DecodeOptions {
  /**
   * Channels of the result: 1 converts colour to greyscale (PIL `convert('L')`), 3 expands
   * greyscale (PIL `convert('RGB')`). Default: the file's own, 1 for greyscale and 3 otherwise.
   */
  channels?: 1 | 3;
  /**
   * Largest width × height decoded; bigger images fail with an `ImageError` before their pixels
   * are allocated (a server's guard against decompression bombs). Default: sharp's, 268 402 689.
   */
  maxPixels?: number;
}

/** First line of an error's message, without sharp's "Input buffer contains" preamble. */
function reason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const line =
    message
      .split('\n')
      .map((s) => s.trim())
      .find((s) => s.length > 0) ?? 'unknown error';
  return line.replace(/^Input (buffer|file) (contains|has) /, '');
}

/** Reasons for `readFile` failures a user can cause, by `code`. */
const FILE_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EISDIR: 'is a directory, not an image file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTDIR: 'no such file (a parent is not a directory)',
};

/**
 * Decodes an encoded image held in memory. `name` (usually the file path) only labels errors:
 * `ImageError('<name>: not a decodable image (<reason>)')`.
 */
export async function decodeImageBuffer(buf: Uint8Array, name: string, options: DecodeOptions = {}): Promise<RgbImage> {
  if (buf.length === 0) throw new ImageError(`${name}: not a decodable image (empty file)`);
  let data: Buffer;
  let info: sharp.OutputInfo;
  try {
    // No .rotate()/autoOrient: EXIF orientation is left alone. ignoreIcc: no colour management.
    // limitInputPixels: a 20000×20000 PNG is refused from its header, before decoding (the
    // library-wide limit, or the caller's own, e.g. `serve --max-pixels`).
    const pipeline = sharp(buf, {
      ignoreIcc: true,
      autoOrient: false,
      limitInputPixels: options.maxPixels ?? getLimits().maxImagePixels,
    });
    const meta = await pipeline.metadata();
    // sharp would output greyscale as sRGB; keep it 1 channel, as PIL's mode L.
    if (meta.channels <= 2 || meta.space === 'b-w' || meta.space === 'grey16') pipeline.toColourspace('b-w');
    const out = await pipeline.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    data = out.data;
    info = out.info;
  } catch (err) {
    throw new ImageError(`${name}: not a decodable image (${reason(err)})`);
  }
  const { width, height } = info;
  let image: RgbImage;
  if (info.channels === 1 || info.channels === 3) {
    image = { width, height, channels: info.channels, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } else {
    // Not expected after removeAlpha() (e.g. CMYK is converted to sRGB by sharp); say so plainly.
    throw new ImageError(`${name}: not a decodable image (${info.channels} channels after decoding, expected 1 or 3)`);
  }
  if (data.length !== width * height * info.channels) {
    throw new ImageError(`${name}: not a decodable image (decoder returned ${data.length} bytes for ${width}×${height}×${info.channels})`);
  }
  return options.channels ? toChannels(image, options.channels) : image;
}

/**
 * Reads `path`, or throws `ImageError('<path>: no such file')` and the like. Regular files only,
 * of at most `maxImageFileBytes`: a FIFO would block forever and `/dev/zero` never ends.
 */
async function readImage(path: string): Promise<Buffer> {
  const fail = (err: unknown): never => {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new ImageError(`${path}: ${FILE_ERRORS[code] ?? `cannot be read (${reason(err)})`}`, { file: path });
  };
  // O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever before fstat can refuse it.
  const file = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK).catch(fail);
  try {
    const st = await file.stat().catch(fail);
    if (st.isDirectory()) throw new ImageError(`${path}: ${FILE_ERRORS['EISDIR']}`, { file: path });
    if (!st.isFile())
      throw new ImageError(`${path}: not a regular file (a device, FIFO or socket), expected an image file`, { file: path });
    if (st.size > getLimits().maxImageFileBytes)
      throw new ImageError(`${path}: ${st.size.toLocaleString('en-US')} bytes is larger than ${raiseHint('maxImageFileBytes')}`, {
        file: path,
      });
    return await file.readFile().catch(fail);
  } finally {
    await file.close();
  }
}

/** Refuses what is not a regular file (sharp would block on a FIFO or read /dev/zero forever). */
async function checkRegularFile(path: string): Promise<void> {
  const st = await stat(path).catch((err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new ImageError(`${path}: ${FILE_ERRORS[code] ?? `cannot be read (${reason(err)})`}`, { file: path });
  });
  if (st.isDirectory()) throw new ImageError(`${path}: ${FILE_ERRORS['EISDIR']}`, { file: path });
  if (!st.isFile()) throw new ImageError(`${path}: not a regular file (a device, FIFO or socket), expected an image file`, { file: path });
}

/**
 * Reads only the header of an image file (no full decode) and returns its size; errors as
 * `decodeImageFile`'s. What `verify` of an image folder uses to drop unreadable files up front.
 */
export async function readImageSize(path: string): Promise<{ width: number; height: number }> {
  await checkRegularFile(path);
  let meta: sharp.Metadata;
  try {
    // From the path, so that sharp reads the header only, not the whole file.
    meta = await sharp(path, { ignoreIcc: true, autoOrient: false, limitInputPixels: getLimits().maxImagePixels }).metadata();
  } catch (err) {
    throw new ImageError(`${path}: not a decodable image (${reason(err)})`);
  }
  if (!meta.width || !meta.height) throw new ImageError(`${path}: not a decodable image (no image dimensions)`);
  return { width: meta.width, height: meta.height };
}

/**
 * Reads and decodes an image file. Errors: `ImageError('<path>: no such file')` when it is missing,
 * `ImageError('<path>: not a decodable image (<reason>)')` when it is not an image sharp can read.
 */
export async function decodeImageFile(path: string, options: DecodeOptions = {}): Promise<RgbImage> {
  return decodeImageBuffer(await readImage(path), path, options);
}

/** Options of {@link decodeImageSource}. */
export interface SourceOptions extends DecodeOptions {
  /** Time to download a URL, headers and body, in ms. Default 30000. */
  timeoutMs?: number;
}

/** True for what {@link decodeImageSource} downloads rather than reads: an http:// or https:// URL. */
export function isImageUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/**
 * Decodes an image file, or the picture behind an http(s) URL: downloaded into memory, at most
 * `maxImageFileBytes` (as a file) and within `timeoutMs`, without retries. A URL that cannot be
 * fetched is an `ImageError` that starts with the URL, as an unreadable file's starts with its path.
 */
export async function decodeImageSource(source: string, options: SourceOptions = {}): Promise<RgbImage> {
  if (!isImageUrl(source)) return decodeImageFile(source, options);
  const bytes = await fetchBytes(source, {
    maxBytes: getLimits().maxImageFileBytes,
    limitText: raiseHint('maxImageFileBytes'),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    error: ImageError,
  });
  return decodeImageBuffer(bytes, source, options);
}
