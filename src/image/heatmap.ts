/**
 * Heat maps over pictures: a class activation map (Grad-CAM's, at a feature map's few pixels)
 * upsampled to a picture's size, normalized, coloured and blended over it. Pure functions of their
 * inputs, no Node or browser imports: the CLI writes their result as a PNG, the page draws it.
 */
import { describeValue, OptionError } from '../errors.js';
import { checkImage, checkSize, type RgbImage } from './image.js';

/** A map of floats over a grid (a class activation map, a branch's activation), row-major. */
export interface CamMap {
  width: number;
  height: number;
  /** `height × width` values, `data[y * width + x]`. */
  data: Float32Array;
}

function checkMap(map: CamMap, where: string): void {
  const ok =
    typeof map === 'object' &&
    map !== null &&
    Number.isInteger(map.width) &&
    Number.isInteger(map.height) &&
    map.width > 0 &&
    map.height > 0 &&
    map.data instanceof Float32Array &&
    map.data.length === map.width * map.height;
  if (!ok)
    throw new OptionError(
      `${where}: expected a map { width, height, data: Float32Array of width×height }, received ${describeValue(map)}`,
      {
        option: 'cam',
      },
    );
}

/**
 * Bilinear upsampling (or downsampling) to `width` × `height`, as PyTorch's
 * `F.interpolate(mode='bilinear', align_corners=False)`: sample centres aligned, edges clamped.
 */
export function upsampleCam(map: CamMap, width: number, height: number): CamMap {
  checkMap(map, 'upsampleCam');
  checkSize(width, 'width', 'upsampleCam');
  checkSize(height, 'height', 'upsampleCam');
  const axis = (outSize: number, inSize: number): { i0: Int32Array; i1: Int32Array; t: Float32Array } => {
    const i0 = new Int32Array(outSize);
    const i1 = new Int32Array(outSize);
    const t = new Float32Array(outSize);
    for (let o = 0; o < outSize; o++) {
      const src = Math.max(0, ((o + 0.5) * inSize) / outSize - 0.5);
      const lo = Math.min(Math.floor(src), inSize - 1);
      i0[o] = lo;
      i1[o] = Math.min(lo + 1, inSize - 1);
      t[o] = src - lo;
    }
    return { i0, i1, t };
  };
  const xs = axis(width, map.width);
  const ys = axis(height, map.height);
  const out = new Float32Array(width * height);
  const d = map.data;
  for (let y = 0; y < height; y++) {
    const r0 = ys.i0[y]! * map.width;
    const r1 = ys.i1[y]! * map.width;
    const ty = ys.t[y]!;
    for (let x = 0; x < width; x++) {
      const [a, b, tx] = [xs.i0[x]!, xs.i1[x]!, xs.t[x]!];
      const top = d[r0 + a]! + (d[r0 + b]! - d[r0 + a]!) * tx;
      const bottom = d[r1 + a]! + (d[r1 + b]! - d[r1 + a]!) * tx;
      out[y * width + x] = top + (bottom - top) * ty;
    }
  }
  return { width, height, data: out };
}

/** The map scaled to [0, 1]: (v − min)/(max − min); a constant map becomes zeros. */
export function normalizeCam(map: CamMap): CamMap {
  checkMap(map, 'normalizeCam');
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of map.data) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const span = hi - lo;
  const data = span > 0 && Number.isFinite(span) ? map.data.map((v) => (v - lo) / span) : new Float32Array(map.data.length);
  return { width: map.width, height: map.height, data };
}

/** The jet colour of `v` in [0, 1] (Grad-CAM's figures): dark blue → cyan → yellow → dark red, as 8-bit RGB. */
export function jet(v: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0));
  const ch = (c: number): number => Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * x - c))));
  return [ch(3), ch(2), ch(1)];
}

export interface OverlayOptions {
  /** Weight of the colours over the picture, in [0, 1]. Default 0.5. */
  alpha?: number;
}

/**
 * `image` with `cam` over it: the map upsampled to the picture's size (bilinear), scaled to [0, 1],
 * coloured (jet) and blended, (1 − α)·picture + α·colour, as Grad-CAM's figures show it. A
 * greyscale picture comes back in colour.
 */
export function overlayCam(image: RgbImage, cam: CamMap, { alpha = 0.5 }: OverlayOptions = {}): RgbImage {
  checkImage(image, 'overlayCam');
  if (typeof alpha !== 'number' || !(alpha >= 0 && alpha <= 1))
    throw new OptionError(`alpha: expected a number in [0, 1], received ${describeValue(alpha)}`, { option: 'alpha' });
  const { width, height, channels } = image;
  const heat = normalizeCam(upsampleCam(cam, width, height)).data;
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const colour = jet(heat[i]!);
    for (let k = 0; k < 3; k++) {
      const px = image.data[i * channels + (channels === 1 ? 0 : k)]!;
      out[i * 3 + k] = Math.round((1 - alpha) * px + alpha * colour[k]!);
    }
  }
  return { width, height, channels: 3, data: out };
}
