/**
 * Explaining a prediction: where in the picture the evidence for a class lies (Grad-CAM, see
 * `models/gradcam.ts`), what each branch of an Inception module contributes, and what the
 * auxiliary classifiers say, for each picture of a batch. Runtime-agnostic (Node and browser).
 */
import { describeValue, OptionError } from '../errors.js';
import { centerCropBox } from '../image/image.js';
import { type CamMap, overlayCam, type OverlayOptions } from '../image/heatmap.js';
import { resize, shorterSideSize } from '../image/resize.js';
import type { Box, RgbImage } from '../image/image.js';
import { moduleBranches, resolveGradCamTarget, type BranchSpec, type GradCamMethod, type GradCamOptions } from '../models/gradcam.js';
import type { GoogLeNet, PreprocessConfig } from '../models/model.js';
import type { Tensor } from '../tensor.js';
import { softmax, type Prediction } from './prediction.js';

/** What `explain` takes. */
export interface ExplainOptions extends Omit<GradCamOptions, 'taps'> {
  /**
   * A module whose output concatenates parallel branches (`inception4a`) whose branches' activations
   * to report, or `true` for `layer` itself. Default: none.
   */
  branches?: string | boolean;
}

/** One branch's activations in one picture. */
export interface BranchActivation extends BranchSpec {
  /** Mean activation over the branch's channels and positions. */
  mean: number;
  /** L2 norm of the branch's part of the module's output. */
  l2: number;
  /** The branch's part of the module's total activation (its sum over the module's; ReLU outputs are ≥ 0). */
  share: number;
  /** Mean over the branch's channels at each position of the module's grid. */
  map: CamMap;
}

/** Why the model answers what it answers, for one picture. */
export interface Explanation {
  /** The class explained (the top one unless `classIndex` was given), its label and probability under `head`. */
  classIndex: number;
  label: string;
  probability: number;
  /** The head, the tap and the method Grad-CAM used. */
  head: string;
  layer: string;
  method: GradCamMethod;
  /** The Grad-CAM map at the tap's resolution, before any upsampling or normalization. */
  cam: CamMap;
  /** The logits of `head` for this picture. */
  logits: Float32Array;
  /** Each head's top class from the same pass: `logits`, and `aux1`, `aux2` in models with auxiliary classifiers. */
  heads: Record<string, Prediction>;
  /** The branches of the module asked for with `branches`. */
  branches?: { module: string; branches: BranchActivation[] };
}

/** Each picture's branch activations, from a module's output (N×C×h×w) and its branches. */
export function branchActivations(activation: Tensor, specs: readonly BranchSpec[]): BranchActivation[][] {
  const [n, c, h, w] = activation.dims as [number, number, number, number];
  const hw = h * w;
  const out: BranchActivation[][] = [];
  for (let i = 0; i < n; i++) {
    const sums = specs.map((s) => {
      let sum = 0;
      let sq = 0;
      const map = new Float32Array(hw);
      for (let k = s.offset; k < s.offset + s.channels; k++) {
        const base = (i * c + k) * hw;
        for (let j = 0; j < hw; j++) {
          const v = activation.data[base + j]!;
          sum += v;
          sq += v * v;
          map[j]! += v / s.channels;
        }
      }
      return { sum, sq, map };
    });
    const total = sums.reduce((a, s) => a + s.sum, 0);
    out.push(
      specs.map((s, b) => ({
        ...s,
        mean: sums[b]!.sum / (s.channels * hw),
        l2: Math.sqrt(sums[b]!.sq),
        share: total > 0 ? sums[b]!.sum / total : 0,
        map: { width: w, height: h, data: sums[b]!.map },
      })),
    );
  }
  return out;
}

function topOf(logits: Float32Array, labels: readonly string[] | undefined): Prediction {
  const p = softmax(logits);
  let best = 0;
  for (let c = 1; c < p.length; c++) if (p[c]! > p[best]!) best = c;
  return { index: best, label: labels?.[best] ?? String(best), probability: p[best]! };
}

/** The module whose branches `branches` asks for (`true`: the explained layer), or undefined for none. */
function branchModule(branches: ExplainOptions['branches'], layer: string): string | undefined {
  if (branches === undefined || branches === false) return undefined;
  if (branches === true) return layer;
  if (typeof branches !== 'string')
    throw new OptionError(`branches: expected a module name or true, received ${describeValue(branches)}`, { option: 'branches' });
  return branches;
}

/** Explains each picture of a normalized N×C×H×W batch (see `Classifier.explain`): one pass for everything. */
export async function explainTensor(model: GoogLeNet, x: Tensor, options: ExplainOptions = {}): Promise<Explanation[]> {
  if (typeof options !== 'object' || options === null)
    throw new OptionError(`options: expected an object { layer, classIndex, head, branches }, received ${describeValue(options)}`, {
      option: 'options',
    });
  const { branches, ...camOptions } = options;
  const g = model.graph('train');
  const target = resolveGradCamTarget(g, camOptions);
  const module = branchModule(branches, target.layer);
  const specs = module !== undefined ? moduleBranches(g, module) : undefined;
  const r = await model.gradCam(x, { ...camOptions, ...target, ...(module !== undefined ? { taps: [module] } : {}) });
  const perImage = module !== undefined && specs ? branchActivations(r.activations[module]!, specs) : undefined;
  const [n, h, w] = r.cam.dims as [number, number, number];
  const k = r.heads[r.head]!.dims[1]!;
  const labels = model.labels;
  const out: Explanation[] = [];
  for (let i = 0; i < n; i++) {
    const logits = r.heads[r.head]!.data.slice(i * k, (i + 1) * k);
    const c = r.classIndex[i]!;
    const heads: Record<string, Prediction> = {};
    for (const [name, t] of Object.entries(r.heads)) heads[name] = topOf(t.data.slice(i * t.dims[1]!, (i + 1) * t.dims[1]!), labels);
    out.push({
      classIndex: c,
      label: labels?.[c] ?? String(c),
      probability: softmax(logits)[c]!,
      head: r.head,
      layer: r.layer,
      method: r.method,
      cam: { width: w, height: h, data: r.cam.data.slice(i * h * w, (i + 1) * h * w) },
      logits,
      heads,
      ...(module !== undefined && perImage ? { branches: { module, branches: perImage[i]! } } : {}),
    });
  }
  return out;
}

/**
 * The part of a `width` × `height` picture the model saw: torchvision's `Resize(resize)` then
 * `CenterCrop(crop)`, mapped back to the picture's pixels (fractional; clipped to the picture).
 */
export function viewedRegion(width: number, height: number, p: Pick<PreprocessConfig, 'resize' | 'crop'>): Box {
  const r = shorterSideSize(width, height, p.resize);
  const c = centerCropBox(r.width, r.height, p.crop);
  const sx = width / r.width;
  const sy = height / r.height;
  const left = Math.max(0, c.left * sx);
  const top = Math.max(0, c.top * sy);
  return { left, top, width: Math.min(width, (c.left + c.width) * sx) - left, height: Math.min(height, (c.top + c.height) * sy) - top };
}

export interface ExplanationOverlayOptions extends OverlayOptions {
  /** Size of the result. Default: the region's own size, its longer side brought into [224, 1024]. */
  width?: number;
  height?: number;
}

/**
 * The region of `image` that the model saw (see {@link viewedRegion}), resampled as `resize` does,
 * with `cam` over it (see `overlayCam`): what `googlenet explain` writes and the page draws.
 */
export function overlayExplanation(
  image: RgbImage,
  cam: CamMap,
  preprocess: Pick<PreprocessConfig, 'resize' | 'crop'>,
  o: ExplanationOverlayOptions = {},
): RgbImage {
  const box = viewedRegion(image.width, image.height, preprocess);
  const long = Math.max(box.width, box.height);
  const scale = o.width !== undefined || o.height !== undefined ? 1 : Math.min(1024, Math.max(224, long)) / long;
  const width = o.width ?? Math.max(1, Math.round(box.width * scale));
  const height = o.height ?? Math.max(1, Math.round(box.height * scale));
  return overlayCam(resize(image, width, height, box), cam, o.alpha !== undefined ? { alpha: o.alpha } : {});
}
