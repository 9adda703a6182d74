/**
 * Image decoding in the browser: `createImageBitmap` (the browser's decoders, off the main
 * thread) and an `OffscreenCanvas` to read the pixels, into the same `RgbImage` that Node's
 * sharp decoder returns, so `preprocess()` and everything after it is shared.
 *
 * Like `image/decode-node.ts`: ICC profiles are ignored (no colour conversion, as PIL), alpha is
 * dropped, a greyscale picture comes back as 1 channel (PIL mode `L`). Unlike it, EXIF orientation
 * is applied (the page classifies the picture the way it shows it), and pixels under partial
 * transparency pass through the canvas' premultiplied storage, so they can differ by a rounding
 * step from sharp's. PNG and baseline pictures without EXIF decode to the same bytes as Node.
 *
 * Enormous pictures are downscaled while decoding (longer side capped at `maxSide`), so a
 * 100-megapixel photo neither allocates gigabytes nor freezes the tab; the dimensions are read
 * from the file header first (PNG, JPEG, GIF, WebP, BMP).
 */
import { ImageError } from '../errors.js';
import type { RgbImage } from '../image/image.js';

export interface DecodeImageOptions {
  /** Longer side after decoding; larger pictures are downscaled to it. Default 2048. */
  maxSide?: number;
  /** Refuse pictures above this many pixels (before downscaling). Default 250 megapixels. */
  maxPixels?: number;
}

export interface DecodedImage extends RgbImage {
  /** Size of the picture in the file. */
  originalWidth: number;
  originalHeight: number;
  /** True when the picture was downscaled to `maxSide`. */
  downscaled: boolean;
}

type Format = 'png' | 'jpeg' | 'gif' | 'webp' | 'bmp' | 'avif' | 'ico' | 'svg';

function sniffFormat(b: Uint8Array): Format | undefined {
  const at = (i: number, ...xs: number[]): boolean => xs.every((x, k) => b[i + k] === x);
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpeg';
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return 'gif';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'webp';
  if (at(0, 0x42, 0x4d)) return 'bmp';
  if (at(4, 0x66, 0x74, 0x79, 0x70) && (at(8, 0x61, 0x76, 0x69, 0x66) || at(8, 0x61, 0x76, 0x69, 0x73))) return 'avif';
  if (at(0, 0, 0, 1, 0)) return 'ico';
  const head = new TextDecoder().decode(b.subarray(0, 256)).trimStart().toLowerCase();
  if (head.startsWith('<svg') || (head.startsWith('<?xml') && head.includes('<svg'))) return 'svg';
  return undefined;
}

/** Width and height from the header, when the format keeps them near the start. */
function sniffSize(b: Uint8Array, f: Format): { width: number; height: number } | undefined {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  try {
    switch (f) {
      case 'png':
        return { width: v.getUint32(16), height: v.getUint32(20) };
      case 'gif':
        return { width: v.getUint16(6, true), height: v.getUint16(8, true) };
      case 'bmp':
        return { width: Math.abs(v.getInt32(18, true)), height: Math.abs(v.getInt32(22, true)) };
      case 'webp': {
        const chunk = String.fromCharCode(b[12]!, b[13]!, b[14]!, b[15]!);
        if (chunk === 'VP8X')
          return { width: 1 + (b[24]! | (b[25]! << 8) | (b[26]! << 16)), height: 1 + (b[27]! | (b[28]! << 8) | (b[29]! << 16)) };
        if (chunk === 'VP8L') {
          const bits = v.getUint32(21, true);
          return { width: 1 + (bits & 0x3fff), height: 1 + ((bits >> 14) & 0x3fff) };
        }
        if (chunk === 'VP8 ') return { width: v.getUint16(26, true) & 0x3fff, height: v.getUint16(28, true) & 0x3fff };
        return undefined;
      }
      case 'jpeg': {
        let i = 2;
        while (i + 9 < b.length) {
          if (b[i] !== 0xff) return undefined;
          const marker = b[i + 1]!;
          if (marker === 0xff) {
            i++;
            continue;
          }
          const len = v.getUint16(i + 2);
          // SOF0…SOF15 except DHT (C4), JPG (C8) and DAC (CC)
          if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
            return { width: v.getUint16(i + 7), height: v.getUint16(i + 5) };
          }
          i += 2 + len;
        }
        return undefined;
      }
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

function nameOf(src: Blob): string {
  return typeof File !== 'undefined' && src instanceof File && src.name ? `"${src.name}"` : 'the file';
}

function fitted(w: number, h: number, maxSide: number): { width: number; height: number } | undefined {
  const long = Math.max(w, h);
  if (long <= maxSide) return undefined;
  const s = maxSide / long;
  return { width: Math.max(1, Math.round(w * s)), height: Math.max(1, Math.round(h * s)) };
}

/** Reads an `ImageBitmap`'s pixels into an 8-bit HWC image (alpha dropped). */
function bitmapPixels(bmp: ImageBitmap): { width: number; height: number; rgba: Uint8ClampedArray } {
  const { width, height } = bmp;
  let ctx: OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D | null;
  if (typeof OffscreenCanvas !== 'undefined') {
    ctx = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
  } else {
    const c = document.createElement('canvas');
    c.width = width;
    c.height = height;
    ctx = c.getContext('2d', { willReadFrequently: true });
  }
  if (!ctx) throw new ImageError('this browser cannot create a 2D canvas to read image pixels');
  ctx.drawImage(bmp, 0, 0);
  return { width, height, rgba: ctx.getImageData(0, 0, width, height).data };
}

function toRgbImage(width: number, height: number, rgba: Uint8ClampedArray): RgbImage {
  const n = width * height;
  let grey = true;
  for (let i = 0; i < n && grey; i++) {
    const r = rgba[i * 4]!;
    grey = r === rgba[i * 4 + 1] && r === rgba[i * 4 + 2];
  }
  if (grey) {
    const data = new Uint8Array(n);
    for (let i = 0; i < n; i++) data[i] = rgba[i * 4]!;
    return { width, height, channels: 1, data };
  }
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    data[i * 3] = rgba[i * 4]!;
    data[i * 3 + 1] = rgba[i * 4 + 1]!;
    data[i * 3 + 2] = rgba[i * 4 + 2]!;
  }
  return { width, height, channels: 3, data };
}

const BITMAP_OPTIONS: ImageBitmapOptions = { premultiplyAlpha: 'none', colorSpaceConversion: 'none', imageOrientation: 'from-image' };

/**
 * Decodes a picture (a `Blob`/`File` from a drop, paste or file picker, or a loaded
 * `<img>`) into an 8-bit RGB or greyscale image. Pictures with a longer side above `maxSide`
 * are downscaled while decoding.
 * @throws ImageError for a file that is not an image, is corrupt, or is too large even to downscale.
 */
export async function decodeImage(src: Blob | HTMLImageElement | ImageBitmap, o: DecodeImageOptions = {}): Promise<DecodedImage> {
  const maxSide = o.maxSide ?? 2048;
  const maxPixels = o.maxPixels ?? 250e6;
  let bitmap: ImageBitmap;
  let ow: number;
  let oh: number;
  let downscaled = false;

  if (typeof ImageBitmap !== 'undefined' && src instanceof ImageBitmap) {
    ow = src.width;
    oh = src.height;
    const size = fitted(ow, oh, maxSide);
    bitmap = size
      ? await createImageBitmap(src, { ...BITMAP_OPTIONS, resizeWidth: size.width, resizeHeight: size.height, resizeQuality: 'high' })
      : src;
    downscaled = !!size;
  } else if (typeof HTMLImageElement !== 'undefined' && src instanceof HTMLImageElement) {
    if (!src.complete) await src.decode().catch(() => undefined);
    if (!src.naturalWidth || !src.naturalHeight)
      throw new ImageError(`the picture ${src.currentSrc || src.src} did not load (broken or not an image)`);
    ow = src.naturalWidth;
    oh = src.naturalHeight;
    const size = fitted(ow, oh, maxSide);
    bitmap = await createImageBitmap(src, {
      ...BITMAP_OPTIONS,
      ...(size ? { resizeWidth: size.width, resizeHeight: size.height, resizeQuality: 'high' as const } : {}),
    });
    downscaled = !!size;
  } else if (src instanceof Blob) {
    const name = nameOf(src);
    if (src.size === 0) throw new ImageError(`${name} is empty (0 bytes)`);
    const head = new Uint8Array(await src.slice(0, 256 * 1024).arrayBuffer());
    const format = sniffFormat(head);
    if (!format) {
      const type = src.type ? ` (${src.type})` : '';
      throw new ImageError(`${name}${type} is not an image: expected a PNG, JPEG, GIF, WebP, BMP or AVIF picture`);
    }
    if (format === 'svg') throw new ImageError(`${name} is an SVG drawing; use a bitmap picture (PNG, JPEG, WebP…)`);
    const dims = sniffSize(head, format);
    if (dims && (dims.width === 0 || dims.height === 0))
      throw new ImageError(`${name}: the header says ${dims.width}×${dims.height} pixels — a corrupt picture`);
    if (dims && dims.width * dims.height > maxPixels) {
      throw new ImageError(
        `${name} is ${dims.width}×${dims.height} pixels (${((dims.width * dims.height) / 1e6).toFixed(0)} MP), too large to decode in a browser tab (limit ${(maxPixels / 1e6).toFixed(0)} MP)`,
      );
    }
    const size = dims ? fitted(dims.width, dims.height, maxSide) : undefined;
    try {
      bitmap = await createImageBitmap(src, {
        ...BITMAP_OPTIONS,
        ...(size ? { resizeWidth: size.width, resizeHeight: size.height, resizeQuality: 'high' as const } : {}),
      });
    } catch (e) {
      throw new ImageError(
        `${name} looks like a ${format.toUpperCase()} file but cannot be decoded (${(e as Error).message || 'corrupt or truncated'})`,
      );
    }
    ow = dims?.width ?? bitmap.width;
    oh = dims?.height ?? bitmap.height;
    downscaled = !!size;
    // Formats whose size the header did not tell: downscale after decoding.
    const late = !size ? fitted(bitmap.width, bitmap.height, maxSide) : undefined;
    if (late) {
      const small = await createImageBitmap(bitmap, {
        ...BITMAP_OPTIONS,
        resizeWidth: late.width,
        resizeHeight: late.height,
        resizeQuality: 'high',
      });
      bitmap.close();
      bitmap = small;
      downscaled = true;
    }
  } else {
    throw new ImageError('decodeImage: expected a Blob, File, HTMLImageElement or ImageBitmap');
  }

  try {
    const { width, height, rgba } = bitmapPixels(bitmap);
    return { ...toRgbImage(width, height, rgba), originalWidth: ow, originalHeight: oh, downscaled };
  } finally {
    if (bitmap !== src) bitmap.close();
  }
}
