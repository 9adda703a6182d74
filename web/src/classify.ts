/** View 1: classify a dropped, pasted, picked or sample picture with the selected model. */
import {
  Classifier,
  decodeImage,
  describeConfig,
  isStateDictUrl,
  isUntrainedSource,
  loadModel,
  ModelLoadError,
  modelSource,
  topK,
  type DecodedImage,
  type Explanation,
  type GoogLeNet,
  type Tensor,
} from '../../src/web/index.js';
import type { WebManifest } from '../../src/advanced.js';
import {
  configureForModel,
  drawOverlay,
  explainClass,
  explainRequest,
  initExplainControls,
  resetClickedClass,
  showExplanation,
  wantsExplain,
} from './explain-view.js';
import { backendLabel, demo } from './state.js';
import { $, clearError, fmt, h, setProgress, showError } from './util.js';

interface ModelEntry extends WebManifest {
  path: string;
}

let model: GoogLeNet | undefined;
let modelName = '';
let current: { image: DecodedImage; name: string } | undefined;
/** Incremented for each request, so a slow, older result never overwrites a newer one. */
let ticket = 0;
let modelTicket = 0;
let entries: ModelEntry[] = [];

const els = {
  drop: () => $('dropzone'),
  file: () => $<HTMLInputElement>('file-input'),
  samples: () => $('samples'),
  error: () => $('classify-error'),
  select: () => $<HTMLSelectElement>('model-select'),
  badge: () => $('model-badge'),
  info: () => $('model-info'),
  modelError: () => $('model-error'),
  progress: () => $('model-progress'),
  preview: () => $<HTMLCanvasElement>('preview'),
  previewInfo: () => $('preview-info'),
  top5: () => $('top5'),
  timing: () => $('timing'),
};

export function initClassify(): void {
  const drop = els.drop();
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer?.files[0];
    if (f) void classifyBlob(f, f.name);
    else showError(els.error(), 'Nothing to classify: drop a picture file (from your files, not a link).');
  });
  // Anywhere on the view: dropping outside the zone should not navigate away.
  $('view-classify').addEventListener('dragover', (e) => e.preventDefault());
  $('view-classify').addEventListener('drop', (e) => {
    e.preventDefault();
    const f = e.dataTransfer?.files[0];
    if (f) void classifyBlob(f, f.name);
  });
  els.file().addEventListener('change', () => {
    const f = els.file().files?.[0];
    if (f) void classifyBlob(f, f.name);
    els.file().value = '';
  });
  document.addEventListener('paste', (e) => {
    if ($('view-classify').hidden) return;
    const item = [...(e.clipboardData?.items ?? [])].find((i) => i.kind === 'file');
    const f = item?.getAsFile();
    if (f) {
      e.preventDefault();
      void classifyBlob(f, f.name || 'pasted picture');
    }
  });
  els.select().addEventListener('change', () => {
    const e = entries.find((x) => x.path === els.select().value);
    if (e) void selectModel(e.path, e);
  });
  $('model-url-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const url = $<HTMLInputElement>('model-url').value.trim();
    if (url) void selectModel(url);
    else showError(els.modelError(), 'Type the URL of a model directory or of a .pth/.safetensors file first.');
  });
  els.top5().addEventListener('click', (ev) => {
    const li = (ev.target as HTMLElement).closest<HTMLElement>('li[data-index]');
    if (!li || !current) return;
    explainClass(Number(li.dataset.index));
    void classifyImage(current.image, current.name);
  });
  initExplainControls(() => current && void classifyImage(current.image, current.name));
  void loadSamples();
}

/** The picture and model of this view, for the Architecture view's branch activations. */
export function currentPicture(): { model: GoogLeNet; modelName: string; image: DecodedImage; name: string } | undefined {
  return model && current ? { model, modelName, image: current.image, name: current.name } : undefined;
}

/** Loads `models/index.json` and the default model (or `?model=URL`). */
export async function loadModelList(): Promise<void> {
  const sel = els.select();
  try {
    const res = await fetch('models/index.json', { cache: 'no-cache' });
    if (!res.ok) throw new ModelLoadError(`models/index.json: HTTP ${res.status} (run scripts/web-assets.mjs before building the page)`);
    const idx = (await res.json()) as { default: string | null; models: ModelEntry[] };
    entries = idx.models;
    sel.replaceChildren(...entries.map((e) => h('option', { value: e.path, text: `${e.name}${e.trained ? '' : ' (untrained)'}` })));
    const wanted = new URLSearchParams(location.search).get('model');
    if (wanted) await selectModel(wanted);
    else if (idx.default)
      await selectModel(
        idx.default,
        entries.find((e) => e.path === idx.default),
      );
    else els.info().textContent = 'No model is bundled with this page; load one from a URL below.';
  } catch (e) {
    els.info().textContent = 'No model list.';
    showError(els.modelError(), e);
  }
}

async function loadSamples(): Promise<void> {
  try {
    const res = await fetch('samples/index.json');
    if (!res.ok) throw new ModelLoadError(`samples/index.json: HTTP ${res.status}`);
    const list = (await res.json()) as { file: string; label: string; source: string }[];
    els.samples().replaceChildren(
      ...list.map((s) =>
        h(
          'button',
          {
            class: 'sample',
            type: 'button',
            title: `${s.label} — ${s.source}`,
            'data-file': s.file,
            onclick: () => void classifyUrl(`samples/${s.file}`, s.label),
          },
          h('img', { src: `samples/${s.file}`, alt: s.label, width: 56, height: 56 }),
          h('span', { text: s.label }),
        ),
      ),
    );
  } catch (e) {
    els.samples().textContent = `No sample pictures (${(e as Error).message}).`;
  }
}

async function classifyUrl(url: string, name: string): Promise<void> {
  try {
    const res = await fetch(url);
    if (!res.ok) throw new ModelLoadError(`${url}: HTTP ${res.status}`);
    await classifyBlob(await res.blob(), name);
  } catch (e) {
    showError(els.error(), e);
  }
}

/** Switches the model; a failure leaves the previous one in place and says why. */
async function selectModel(url: string, entry?: ModelEntry): Promise<void> {
  const my = ++modelTicket;
  const prevName = modelName;
  clearError(els.modelError());
  els.info().textContent = `Loading ${url}…`;
  setProgress(els.progress(), 0);
  try {
    const t0 = performance.now();
    demo.modelProgress = [];
    const onProgress = (a: number, b: number): void => {
      demo.modelProgress.push([a, b]);
      if (b) setProgress(els.progress(), a / b);
    };
    // A torchvision state dict is fetched, checked against its SHA-256 and kept in the browser's
    // cache; `?mirror=URL` serves the same file names from elsewhere (an air-gapped site).
    const mirror = new URLSearchParams(location.search).get('mirror');
    const m = isStateDictUrl(url)
      ? await loadModel({ weights: url, ...(mirror ? { download: { mirror } } : {}) }, { onProgress })
      : await loadModel(url, { onProgress });
    // Compile the inference graph now, so that the first picture's time is the model's.
    await m.forward({
      dims: [1, m.config.inChannels, m.config.inputSize, m.config.inputSize],
      data: new Float32Array(m.config.inChannels * m.config.inputSize ** 2),
    });
    const ms = performance.now() - t0;
    if (my !== modelTicket) {
      void m.dispose();
      return;
    }
    const trained = entry ? entry.trained : !isUntrainedSource(modelSource(m));
    useModel(m, entry?.name ?? url, url, trained, `loaded and compiled in ${Math.round(ms)} ms`);
  } catch (e) {
    if (my !== modelTicket) return;
    showError(els.modelError(), e, `Could not load the model at ${url}: `);
    els.info().textContent = model ? `Still using ${prevName}.` : 'No model loaded.';
    if (model && entries.some((x) => x.name === prevName)) els.select().value = entries.find((x) => x.name === prevName)!.path;
  } finally {
    if (my === modelTicket) setProgress(els.progress(), null);
    demo.modelLoads++;
  }
}

/** Makes `m` the model of this view (also used by the Train view's "Classify with it"). */
export function useModel(m: GoogLeNet, name: string, url: string, trained: boolean, note = ''): void {
  const old = model;
  model = m;
  modelName = name;
  if (old && old !== m) void old.dispose();
  configureForModel(m);
  const badge = els.badge();
  badge.hidden = false;
  badge.textContent = trained ? 'trained' : 'untrained — random weights';
  badge.className = `badge ${trained ? 'ok' : 'warn'}`;
  els.info().textContent =
    `${name}: ${m.config.arch === 'inception_v3' ? 'Inception v3' : 'GoogLeNet'}, ${describeConfig(m.config)}, ` +
    `${fmt(m.numParams())} parameters${note ? ` — ${note}` : ''}.${trained ? '' : ' Its predictions are meaningless until it is trained (see the Train tab).'}`;
  demo.model = { url, name, trained, config: m.config, params: m.numParams() };
  if (![...els.select().options].some((o) => o.value === url)) els.select().append(h('option', { value: url, text: name }));
  els.select().value = url;
  if (current) void classifyImage(current.image, current.name);
}

async function classifyBlob(blob: Blob, name: string): Promise<void> {
  const my = ++ticket;
  clearError(els.error());
  els.top5().replaceChildren(h('li', { class: 'muted', text: `Decoding ${name}…` }));
  const t0 = performance.now();
  let img: DecodedImage;
  try {
    img = await decodeImage(blob);
  } catch (e) {
    if (my !== ticket) return;
    showError(els.error(), e);
    current = undefined;
    clearPreview();
    els.top5().replaceChildren(h('li', { class: 'muted', text: 'No prediction: that file could not be read as a picture.' }));
    demo.classifications++;
    return;
  }
  if (my !== ticket) return;
  current = { image: img, name };
  resetClickedClass();
  await classifyImage(img, name, performance.now() - t0, my);
}

function clearPreview(): void {
  const c = els.preview();
  c.getContext('2d')!.clearRect(0, 0, c.width, c.height);
  els.previewInfo().textContent = '';
  els.timing().textContent = '';
}

function drawPreview(img: DecodedImage): void {
  const c = els.preview();
  const ctx = c.getContext('2d')!;
  const rgba = new Uint8ClampedArray(img.width * img.height * 4);
  for (let i = 0; i < img.width * img.height; i++) {
    for (let k = 0; k < 3; k++) rgba[i * 4 + k] = img.data[i * img.channels + (img.channels === 1 ? 0 : k)]!;
    rgba[i * 4 + 3] = 255;
  }
  const tmp = new OffscreenCanvas(img.width, img.height);
  tmp.getContext('2d')!.putImageData(new ImageData(rgba, img.width, img.height), 0, 0);
  const s = Math.min(c.width / img.width, c.height / img.height);
  const w = img.width * s;
  const hh = img.height * s;
  ctx.clearRect(0, 0, c.width, c.height);
  ctx.imageSmoothingEnabled = s < 1 || img.width > 64;
  ctx.drawImage(tmp, (c.width - w) / 2, (c.height - hh) / 2, w, hh);
  els.previewInfo().textContent = img.downscaled
    ? `${fmt(img.originalWidth)}×${fmt(img.originalHeight)} px, downscaled to ${img.width}×${img.height} while decoding`
    : `${img.width}×${img.height} px, ${img.channels === 1 ? 'greyscale' : 'colour'}`;
}

async function explainOnce(clf: Classifier, x: Tensor, req: ReturnType<typeof explainRequest>): Promise<Explanation> {
  const [e] = await clf.explain(x, {
    layer: req.layer,
    ...(req.classIndex !== undefined ? { classIndex: req.classIndex } : {}),
    ...(req.module !== undefined ? { branches: req.module } : {}),
  });
  return e!;
}

function recordExplanation(e: Explanation, overlay: { x: number; y: number; width: number; height: number } | undefined, ms: number): void {
  demo.lastExplanation = {
    classIndex: e.classIndex,
    label: e.label,
    probability: e.probability,
    layer: e.layer,
    cam: Array.from(e.cam.data),
    camWidth: e.cam.width,
    camHeight: e.cam.height,
    ...(overlay ? { overlay } : {}),
    ...(e.branches
      ? {
          branches: {
            module: e.branches.module,
            names: e.branches.branches.map((b) => b.name),
            shares: e.branches.branches.map((b) => b.share),
          },
        }
      : {}),
    ms,
  };
}

async function classifyImage(img: DecodedImage, name: string, decodeMs = 0, my = ++ticket): Promise<void> {
  drawPreview(img);
  if (!model) {
    els.top5().replaceChildren(h('li', { class: 'muted', text: 'No model loaded yet.' }));
    return;
  }
  const m = model;
  try {
    const clf = new Classifier(m);
    const t1 = performance.now();
    const x = clf.toInput(img);
    const t2 = performance.now();
    // With Grad-CAM or the branch panel, one explain pass gives the logits too.
    const req = explainRequest();
    const e = wantsExplain(req) ? await explainOnce(clf, x, req) : undefined;
    const logits = e ? { dims: [1, e.logits.length], data: e.logits } : (await m.forward(x)).logits;
    const t3 = performance.now();
    if (my !== ticket || m !== model) return;
    const top = topK(logits, 5, m.labels)[0]!;
    if (e) recordExplanation(e, req.cam ? drawOverlay(els.preview(), img, e, clf.preprocessing) : undefined, t3 - t2);
    else delete demo.lastExplanation;
    if (e && req.cam) els.previewInfo().textContent += ' · shown: the part the model saw';
    showExplanation(e);
    const ms = { decode: decodeMs, preprocess: t2 - t1, inference: t3 - t2, total: decodeMs + (t3 - t1) };
    demo.lastClassification = {
      logits: Array.from(logits.data),
      top,
      width: img.width,
      height: img.height,
      originalWidth: img.originalWidth,
      originalHeight: img.originalHeight,
      downscaled: img.downscaled,
      ms,
      model: modelName,
    };
    els
      .top5()
      .replaceChildren(
        ...top.map((p) =>
          h(
            'li',
            { 'data-index': p.index },
            h('span', { class: 'label', text: p.label }),
            h('span', { class: 'pbar' }, h('span', { style: `width:${(p.probability * 100).toFixed(1)}%` })),
            h('span', { class: 'pct', text: `${(p.probability * 100).toFixed(1)}%` }),
          ),
        ),
      );
    if (e && req.cam) els.top5().querySelector(`li[data-index="${e.classIndex}"]`)?.classList.add('explained');
    els.timing().textContent =
      `${ms.total.toFixed(1)} ms per image (decode ${ms.decode.toFixed(1)}, ` +
      `preprocess ${ms.preprocess.toFixed(1)}, inference ${ms.inference.toFixed(1)}) · ${backendLabel()} · ${name}`;
  } catch (e) {
    if (my !== ticket) return;
    showError(els.error(), e, 'Classification failed: ');
  } finally {
    demo.classifications++;
  }
}
