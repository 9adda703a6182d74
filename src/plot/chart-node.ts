/** Writes the charts of `chart.ts` as SVG and PNG files (sharp / librsvg renders the PNG). */

import { dirname } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic, makeDir } from '../files-node.js';

/** Renders an SVG document to PNG bytes (sharp / librsvg). */
export async function svgToPng(svg: string): Promise<Uint8Array> {
  return new Uint8Array(await sharp(Buffer.from(svg)).png().toBuffer());
}

/** Writes `base.svg` and `base.png` atomically; returns both paths. */
export async function writeSvgAndPng(base: string, svg: string): Promise<[string, string]> {
  makeDir(dirname(base));
  writeFileAtomic(`${base}.svg`, new TextEncoder().encode(svg));
  writeFileAtomic(`${base}.png`, await svgToPng(svg));
  return [`${base}.svg`, `${base}.png`];
}
