/**
 * View 3: train a narrow GoogLeNet on the embedded Fashion-MNIST subset through the same training
 * loop and graph as `googlenet train` (via `BrowserTrainer`), with a live chart, pause/resume,
 * evaluation on the test subset and download of the model directory.
 */
import {
  BrowserTrainer,
  buildGoogLeNet,
  resolveConfig,
  summarize,
  fetchIdxDataset,
  resolveTrainOptions,
  trainModelOptions,
  zipFiles,
  type BrowserTrainOptions,
  type Dataset,
  type EvalReport,
} from '../../src/web/index.js';
import { checkModelDirConfig, modelFromFiles } from '../../src/advanced.js';
import { drawChart, smooth } from './chart.js';
import { useModel } from './classify.js';
import { backendLabel, demo } from './state.js';
import { $, clearError, download, fmt, h, nextFrame, setProgress, showError } from './util.js';

let data: { train: Dataset; test: Dataset } | undefined;
let trainer: BrowserTrainer | undefined;
let running = false;
let busy = false;
/** Pauses training (after the current step) and stops an evaluation. */
let pause: AbortController | undefined;
let stopEval: AbortController | undefined;
const losses: [number, number][] = [];
const accs: number[] = [];
const testPoints: [number, number][] = [];
let trainedNo = 0;

const els = {
  start: () => $<HTMLButtonElement>('train-start'),
  pause: () => $<HTMLButtonElement>('train-pause'),
  evalBtn: () => $<HTMLButtonElement>('train-eval'),
  reset: () => $<HTMLButtonElement>('train-reset'),
  status: () => $('train-status'),
  progress: () => $('train-progress'),
  error: () => $('train-error'),
  chart: () => $<HTMLCanvasElement>('chart'),
  evalResult: () => $('eval-result'),
  dl: () => ['dl-zip', 'dl-config', 'dl-weights', 'use-model'].map((id) => $<HTMLButtonElement>(id)),
};

function readForm(): BrowserTrainOptions {
  const num = (id: string): number => Number($<HTMLInputElement>(id).value);
  return {
    width: num('train-width'),
    batchSize: num('train-batch'),
    epochs: Math.max(1, Math.min(20, Math.round(num('train-epochs')) || 1)),
    optimizer: $<HTMLSelectElement>('train-opt').value as 'adam' | 'sgd',
    lr: num('train-lr'),
    aux: $<HTMLInputElement>('train-aux').checked,
  };
}

function describeArch(): void {
  const o = resolveTrainOptions(readForm());
  const params = summarize(buildGoogLeNet(resolveConfig(trainModelOptions(o)), { mode: 'train' })).params;
  $('train-arch').textContent =
    `cifar preset at 1×28×28, 10 classes, width ${o.width}: ${fmt(params)} trainable parameters${o.aux ? ' (with the two aux heads)' : ''}; ${Math.floor(3000 / o.batchSize)} steps per epoch.`;
}

function redraw(): void {
  const planned = resolveTrainOptions(readForm());
  const total = trainer?.totalSteps ?? Math.floor(3000 / planned.batchSize) * planned.epochs;
  const sm = smooth(losses.map((p) => p[1]));
  const sa = smooth(accs);
  drawChart(
    els.chart(),
    [
      { color: '#2f6fde', points: losses, axis: 'left', width: 1, alpha: 0.25 },
      { color: '#2f6fde', points: losses.map((p, i) => [p[0], sm[i]!]), axis: 'left', width: 2 },
      { color: '#12a150', points: losses.map((p, i) => [p[0], sa[i]!]), axis: 'right', width: 2 },
      { color: '#e0661b', points: testPoints, axis: 'right', dots: true },
    ],
    total,
  );
}

function setButtons(): void {
  const has = !!trainer;
  els.start().disabled = running || busy || (has && trainer!.finished);
  els.start().textContent = has && !trainer!.finished ? 'Resume' : has ? 'Finished' : 'Start training';
  els.pause().disabled = !running;
  els.evalBtn().disabled = !has || running || busy || trainer!.stepsDone === 0;
  els.reset().disabled = !has || busy;
  for (const b of els.dl()) b.disabled = !has || running || busy || trainer!.stepsDone === 0;
  $<HTMLFormElement>('train-form')
    .querySelectorAll('input,select')
    .forEach((e) => ((e as HTMLInputElement).disabled = has));
}

async function ensureData(): Promise<{ train: Dataset; test: Dataset }> {
  if (!data) {
    els.status().textContent = 'Loading the Fashion-MNIST subset (gzipped IDX, 1.7 MB)…';
    const [train, test] = await Promise.all([
      fetchIdxDataset('data/fashion-mnist-subset/', 'train'),
      fetchIdxDataset('data/fashion-mnist-subset/', 'test'),
    ]);
    data = { train, test };
  }
  return data;
}

async function start(): Promise<void> {
  clearError(els.error());
  running = true;
  setButtons();
  demo.train.running = true;
  try {
    const d = await ensureData();
    if (!trainer) {
      els.status().textContent = 'Building and compiling the training graph (forward + backward + optimizer)…';
      await nextFrame();
      trainer = BrowserTrainer.create(d.train, d.test, readForm());
      losses.length = 0;
      accs.length = 0;
      testPoints.length = 0;
      setButtons();
    }
    const t = trainer;
    pause = new AbortController();
    await t.train(
      {
        step: async (r) => {
          losses.push([r.step, r.loss]);
          accs.push(r.correct / r.batchSize);
          demo.train.losses.push(r.loss);
          demo.train.accuracies.push(r.correct / r.batchSize);
          demo.train.steps = r.step;
          setProgress(els.progress(), r.step / r.totalSteps);
          const accuracy = ((100 * r.correct) / r.batchSize).toFixed(0);
          els.status().textContent =
            `step ${fmt(r.step)} / ${fmt(r.totalSteps)} · epoch ${r.epoch + 1} / ${r.epochs} · loss ${r.loss.toFixed(3)} · ` +
            `batch accuracy ${accuracy}% · lr ${r.lr.toPrecision(2)} · ${Math.round(1000 * r.seconds)} ms/step on ${backendLabel()}`;
          redraw();
          await nextFrame();
        },
        epoch: (r, epoch) => showEval(r, `after epoch ${epoch + 1}`),
      },
      pause.signal,
    );
    if (t.finished) els.status().textContent += ' · finished';
    else els.status().textContent += ' · paused';
  } catch (e) {
    showError(els.error(), e, 'Training stopped: ');
  } finally {
    running = false;
    demo.train.running = false;
    setButtons();
  }
}

function renderEval(r: EvalReport, when: string): void {
  els
    .evalResult()
    .replaceChildren(
      h(
        'h3',
        {},
        'Test subset: ',
        h('strong', { 'data-test-accuracy': r.accuracy, text: `${(100 * r.accuracy).toFixed(1)}% accuracy` }),
        ` · loss ${r.loss.toFixed(3)} · ${fmt(r.count)} images · ${(r.ms / 1000).toFixed(1)} s · ${when}`,
      ),
      h(
        'div',
        { class: 'perclass' },
        ...r.perClass.map((a, i) =>
          h(
            'div',
            { class: 'barrow' },
            h('span', { text: trainer?.model.labels?.[i] ?? String(i) }),
            h('span', { class: 'hbar', style: `width:${(a * 100).toFixed(1)}%` }),
            h('span', { text: `${(a * 100).toFixed(0)}%` }),
          ),
        ),
      ),
    );
}

function showEval(r: EvalReport, when: string): void {
  testPoints.push([trainer?.stepsDone ?? 0, r.accuracy]);
  demo.train.evals.push(r);
  renderEval(r, when);
  redraw();
}

async function evaluate(): Promise<void> {
  if (!trainer || !data) return;
  busy = true;
  stopEval = new AbortController();
  setButtons();
  const prev = els.status().textContent;
  try {
    const r = await trainer.evaluate(data.test, {
      onProgress: (a, b) => {
        els.status().textContent = `Evaluating on the test subset: ${a} / ${b}…`;
      },
      signal: stopEval.signal,
    });
    showEval(r, `after ${fmt(trainer.stepsDone)} steps`);
  } catch (e) {
    showError(els.error(), e, 'Evaluation failed: ');
  } finally {
    busy = false;
    els.status().textContent = prev;
    setButtons();
  }
}

function filesOf(t: BrowserTrainer): { 'config.json': Uint8Array; 'model.safetensors': Uint8Array } {
  return t.files();
}

export function initTrain(): void {
  describeArch();
  $('train-form').addEventListener('change', describeArch);
  $('train-opt').addEventListener('change', () => {
    $<HTMLInputElement>('train-lr').value = $<HTMLSelectElement>('train-opt').value === 'adam' ? '0.002' : '0.05';
    describeArch();
  });
  els.start().addEventListener('click', () => void start());
  els.pause().addEventListener('click', () => {
    pause?.abort('paused');
    els.pause().disabled = true;
  });
  els.evalBtn().addEventListener('click', () => void evaluate());
  els.reset().addEventListener('click', () => {
    pause?.abort('reset');
    stopEval?.abort();
    const t = trainer;
    trainer = undefined;
    void t?.dispose();
    losses.length = 0;
    accs.length = 0;
    testPoints.length = 0;
    demo.train = { losses: [], accuracies: [], steps: 0, running: false, evals: [] };
    els.evalResult().replaceChildren();
    setProgress(els.progress(), 0);
    els.status().textContent = 'Not started.';
    redraw();
    setButtons();
  });
  const [zip, cfg, weights, use] = els.dl() as [HTMLButtonElement, HTMLButtonElement, HTMLButtonElement, HTMLButtonElement];
  zip.addEventListener('click', () => {
    if (!trainer) return;
    const f = filesOf(trainer);
    download(
      'fashion-mnist-browser.zip',
      zipFiles({
        'fashion-mnist-browser/config.json': f['config.json'],
        'fashion-mnist-browser/model.safetensors': f['model.safetensors'],
      }),
      'application/zip',
    );
  });
  cfg.addEventListener('click', () => trainer && download('config.json', filesOf(trainer)['config.json'], 'application/json'));
  weights.addEventListener('click', () => trainer && download('model.safetensors', filesOf(trainer)['model.safetensors']));
  use.addEventListener('click', () => {
    if (!trainer) return;
    try {
      // A copy through the downloadable files: what Classify uses is exactly what Node would load.
      const f = filesOf(trainer);
      const config = checkModelDirConfig(JSON.parse(new TextDecoder().decode(f['config.json'])), 'config.json');
      const m = modelFromFiles(config, f['model.safetensors'], { config: 'config.json', weights: 'model.safetensors' });
      trainedNo++;
      useModel(m, `trained in this page #${trainedNo} (${fmt(trainer.stepsDone)} steps)`, `trained:${trainedNo}`, true);
      document.getElementById('tab-classify')?.click();
    } catch (e) {
      showError(els.error(), e);
    }
  });
  window.addEventListener('resize', redraw);
  setButtons();
  redraw();
}

/** Redraws the chart when the view becomes visible (canvas size is 0 while hidden). */
export function showTrain(): void {
  redraw();
}
