/** Writes an explanation's overlay (see `overlayExplanation`) as a PNG with a caption strip under it. */
import { dirname } from 'node:path';
import sharp from 'sharp';
import { makeDir, writeFileAtomic } from '../files-node.js';
import type { RgbImage } from '../image/image.js';

const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Encodes `overlay` as a PNG with `caption` (e.g. the class, its probability and the layer) on a
 * dark strip under the picture, and writes it atomically to `file` (its folder is created).
 */
export async function writeExplanationPng(file: string, overlay: RgbImage, caption: string): Promise<void> {
  const { width, height, channels } = overlay;
  const font = Math.max(10, Math.min(18, Math.round(width / 26)));
  const strip = Math.round(font * 1.8);
  // About 0.6 em per character: cut the caption where it would leave the picture.
  const fit = Math.max(4, Math.floor((width - font) / (0.6 * font)));
  const text = caption.length > fit ? `${caption.slice(0, fit - 1)}…` : caption;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${strip}">` +
    `<rect width="100%" height="100%" fill="#111"/>` +
    `<text x="${font / 2}" y="${Math.round(strip * 0.68)}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="${font}" fill="#fff">${escapeXml(text)}</text></svg>`;
  const png = await sharp(Buffer.from(overlay.data), { raw: { width, height, channels } })
    .extend({ bottom: strip, background: '#111' })
    .composite([{ input: Buffer.from(svg), top: height, left: 0 }])
    .png({ compressionLevel: 9 })
    .toBuffer();
  makeDir(dirname(file));
  writeFileAtomic(file, new Uint8Array(png));
}
