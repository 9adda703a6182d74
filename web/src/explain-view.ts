/**
 * Seeing what the network sees, on the Classify view (a Grad-CAM overlay for the top or a clicked
 * class, and a panel of one Inception module's branch shares) and on the Architecture view (a
 * click on a module shows its branches' activations for the current picture). The numbers come
 * from `Classifier.explain`, one pass per picture; the drawing from the library's heat-map helpers.
 */
import {
  branchModules,
  Classifier,
  featureTaps,
  jet,
  normalizeCam,
  overlayExplanation,
  upsampleCam,
  type BranchActivation,
  type CamMap,
  type DecodedImage,
  type Explanation,
  type GoogLeNet,
} from '../../src/web/index.js';
import { demo } from './state.js';
import { $, h, showError } from './util.js';

/** What the Classify view asks of `explain` for the next picture, from its controls. */
export interface ExplainRequest {
  cam: boolean;
  layer: string;
  /** A clicked class, else the top one. */
  classIndex?: number;
  /** The module of the open branch panel. */
  module?: string;
}

let clickedClass: number | undefined;
/** The hint under the toggle while Grad-CAM is off. */
let camHint = '';

const els = {
  toggle: () => $<HTMLInputElement>('cam-toggle'),
  layer: () => $<HTMLSelectElement>('cam-layer'),
  info: () => $('cam-info'),
  details: () => $<HTMLDetailsElement>('branch-details'),
  module: () => $<HTMLSelectElement>('branch-module'),
  bars: () => $('branch-bars'),
};

/** Wires the controls; `rerun` explains the current picture again. */
export function initExplainControls(rerun: () => void): void {
  camHint = els.info().textContent ?? '';
  els.toggle().addEventListener('change', rerun);
  els.layer().addEventListener('change', rerun);
  els.details().addEventListener('toggle', rerun);
  els.module().addEventListener('change', () => els.details().open && rerun());
  // Clicking the module list opens the panel's select, not the panel.
  els.module().addEventListener('click', (e) => e.preventDefault());
}

/** Fills the layer and module choices from the model's own graph (any architecture with taps). */
export function configureForModel(m: GoogLeNet): void {
  const g = m.graph('train');
  const fill = (sel: HTMLSelectElement, names: string[], pick: string | undefined): void => {
    sel.replaceChildren(...names.map((n) => h('option', { value: n, text: n })));
    if (pick && names.includes(pick)) sel.value = pick;
  };
  const layers = featureTaps(g).filter((t) => !/^maxpool/.test(t));
  fill(els.layer(), layers, layers.at(-1));
  const modules = branchModules(g);
  fill(els.module(), modules, modules.includes('inception4a') ? 'inception4a' : modules[0]);
  els.details().hidden = modules.length === 0;
  clickedClass = undefined;
}

/** A new picture is explained for its top class again. */
export function resetClickedClass(): void {
  clickedClass = undefined;
}

/** Explain `index` instead of the top class (a click on the top-5 list); turns the overlay on. */
export function explainClass(index: number): void {
  clickedClass = index;
  els.toggle().checked = true;
}

export function explainRequest(): ExplainRequest {
  return {
    cam: els.toggle().checked,
    layer: els.layer().value,
    ...(clickedClass !== undefined ? { classIndex: clickedClass } : {}),
    ...(els.details().open && els.module().value ? { module: els.module().value } : {}),
  };
}

/** Whether the next picture needs `explain` rather than a plain forward pass. */
export const wantsExplain = (r: ExplainRequest): boolean => r.cam || r.module !== undefined;

/**
 * Draws the region of `img` the model saw with the map over it, 1:1 in the middle of the preview
 * canvas (so that what is on screen is exactly `overlayExplanation`'s pixels); returns where.
 */
export function drawOverlay(
  canvas: HTMLCanvasElement,
  img: DecodedImage,
  e: Explanation,
  pre: { resize: number; crop: number },
): { x: number; y: number; width: number; height: number } {
  const o = overlayExplanation(img, e.cam, pre, { width: canvas.width, height: canvas.height });
  const rgba = new Uint8ClampedArray(o.width * o.height * 4);
  for (let i = 0; i < o.width * o.height; i++) {
    rgba.set(o.data.subarray(i * 3, i * 3 + 3), i * 4);
    rgba[i * 4 + 3] = 255;
  }
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.putImageData(new ImageData(rgba, o.width, o.height), 0, 0);
  return { x: 0, y: 0, width: o.width, height: o.height };
}

/** A small canvas showing a map (jet colours, scaled to [0, 1]) at `size`×`size`. */
function mapCanvas(map: CamMap, size: number, title: string): HTMLCanvasElement {
  const c = h('canvas', { width: size, height: size, title, class: 'bmap' });
  const v = normalizeCam(upsampleCam(map, size, size)).data;
  const rgba = new Uint8ClampedArray(size * size * 4);
  for (let i = 0; i < size * size; i++) {
    rgba.set(jet(v[i]!), i * 4);
    rgba[i * 4 + 3] = 255;
  }
  c.getContext('2d')!.putImageData(new ImageData(rgba, size, size), 0, 0);
  return c;
}

/** Bars of each branch's share, its mean activation and its map. */
function branchBars(module: string, branches: readonly BranchActivation[], mapSize = 40): HTMLElement {
  return h(
    'div',
    { class: 'bbars', 'data-module': module },
    ...branches.map((b) =>
      h(
        'div',
        { class: 'bbar', 'data-branch': b.name, 'data-share': b.share },
        mapCanvas(b.map, mapSize, `${b.name}: where it fires (mean over its ${b.channels} channels)`),
        h('span', { class: 'bname', text: b.name, title: b.ops }),
        h('span', { class: 'bops', text: `${b.ops} · ${b.channels} ch` }),
        h('span', { class: 'pbar' }, h('span', { style: `width:${(b.share * 100).toFixed(1)}%` })),
        h('span', {
          class: 'pct',
          text: `${(b.share * 100).toFixed(1)}%`,
          title: `mean activation ${b.mean.toFixed(4)}, L2 norm ${b.l2.toFixed(2)}`,
        }),
      ),
    ),
  );
}

/** Shows an explanation's text and branch panel (the overlay is drawn by the caller). */
export function showExplanation(e: Explanation | undefined): void {
  if (!e || !els.toggle().checked) els.info().textContent = camHint;
  if (!e) {
    els.bars().replaceChildren();
    return;
  }
  if (els.toggle().checked)
    els.info().textContent = `Grad-CAM of “${e.label}” (${(e.probability * 100).toFixed(1)}%) at ${e.layer} (${e.cam.width}×${e.cam.height}), red where the evidence for it is.`;
  const aux = Object.entries(e.heads).filter(([k]) => k !== e.head);
  if (aux.length && els.toggle().checked)
    els.info().textContent += ` Auxiliary classifiers: ${aux.map(([k, p]) => `${k} says ${p.label} (${(p.probability * 100).toFixed(0)}%)`).join(', ')}.`;
  if (e.branches) els.bars().replaceChildren(branchBars(e.branches.module, e.branches.branches));
}

/** The Architecture view: the branches of `module` for the Classify view's current picture, inside its block. */
export async function showModuleBranches(
  block: HTMLElement,
  module: string,
  current: { model: GoogLeNet; modelName: string; image: DecodedImage; name: string } | undefined,
): Promise<void> {
  let box = block.querySelector<HTMLElement>('.branch-acts');
  if (!box) {
    box = h('div', { class: 'branch-acts' });
    block.append(box);
  }
  if (!current) {
    box.replaceChildren(h('p', { class: 'hint', text: 'Pick a picture on the Classify view to see how much each branch fires for it.' }));
    return;
  }
  box.replaceChildren(h('p', { class: 'hint', text: `Running ${current.name} through ${module}…` }));
  try {
    const t0 = performance.now();
    const [e] = await new Classifier(current.model).explain(current.image, { branches: module });
    const ms = performance.now() - t0;
    const b = e!.branches!;
    box.replaceChildren(
      h('p', { class: 'hint', text: `${current.name} through ${current.modelName}, the Classify view's model (${Math.round(ms)} ms):` }),
      branchBars(b.module, b.branches, 48),
    );
    demo.lastBranches = { module, names: b.branches.map((x) => x.name), shares: b.branches.map((x) => x.share), ms };
  } catch (err) {
    box.replaceChildren();
    showError(box, err, `${module}: `);
  }
}
