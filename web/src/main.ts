/** The demo page: backend start-up, tabs, and the three views. */
import { BROWSER_DEVICES, init, parseDevice } from '../../src/web/index.js';
import { initArchitecture } from './architecture.js';
import { initClassify, loadModelList } from './classify.js';
import { demo, markReady } from './state.js';
import { initTrain, showTrain } from './train-view.js';
import { $, showError } from './util.js';

const VIEWS = ['classify', 'architecture', 'train'] as const;
type View = (typeof VIEWS)[number];

function show(view: View): void {
  for (const v of VIEWS) {
    $(`view-${v}`).hidden = v !== view;
    $(`tab-${v}`).setAttribute('aria-selected', String(v === view));
  }
  if (location.hash !== `#${view}`) history.replaceState(null, '', `#${view}`);
  if (view === 'train') showTrain();
}

function fromHash(): View {
  const v = location.hash.slice(1);
  return (VIEWS as readonly string[]).includes(v) ? (v as View) : 'classify';
}

async function main(): Promise<void> {
  for (const v of VIEWS) $(`tab-${v}`).addEventListener('click', () => show(v));
  window.addEventListener('hashchange', () => show(fromHash()));
  initArchitecture();
  initClassify();
  initTrain();
  show(fromHash());

  const badge = $('backend');
  try {
    // `?device=webgpu` insists on WebGPU (a software adapter too), `?device=wasm` never tries it.
    const device = new URLSearchParams(location.search).get('device') ?? 'auto';
    const info = await init({ prefer: parseDevice(device, '?device', [...BROWSER_DEVICES, 'cpu']) });
    demo.backend = info;
    badge.dataset.state = 'ok';
    $('backend-label').textContent = info.label;
    const fallback = info.fallbackReason ? ` — ${info.fallbackReason}` : '';
    const threads = info.crossOriginIsolated ? '' : ' — the page is not cross-origin isolated, so WebAssembly runs on one thread';
    const soft = info.softwareAdapter ? ' — a software adapter (slower than WebAssembly)' : '';
    badge.title = `ONNX Runtime Web execution provider${soft}${fallback}${threads}`;
  } catch (e) {
    demo.backendError = (e as Error).message;
    badge.dataset.state = 'error';
    $('backend-label').textContent = 'no backend';
    showError(
      $('global-error'),
      e,
      'ONNX Runtime cannot run in this browser, so classification and training are off (the Architecture view still works): ',
    );
    for (const id of ['train-start', 'file-input', 'model-select']) ($(id) as HTMLButtonElement).disabled = true;
    markReady();
    return;
  }
  markReady();
  await loadModelList();
}

window.addEventListener('error', (e) => showError($('global-error'), e.error ?? e.message, 'Unexpected error: '));
window.addEventListener('unhandledrejection', (e) => showError($('global-error'), e.reason, 'Unexpected error: '));
void main();
