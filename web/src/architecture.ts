/**
 * View 2: the network of the paper's Table 1 as a diagram, for every preset, with each stage's
 * output shape, parameters and multiply-adds computed from the very graph that runs
 * (`buildGoogLeNet` + `summarize`), and the tutorials' parameter arithmetic: naive vs reduced Inception
 * modules, global average pooling vs a dense layer. Inception v3, the pretrained network the
 * tutorials end with, is one more choice (`architecture-v3.ts`).
 */
import {
  buildGoogLeNet,
  buildInceptionV3,
  compareNaive,
  gapVersusDense,
  INCEPTION_TABLE,
  PRESETS,
  resolveConfig,
  scaleChannels,
  summarize,
  type Graph,
  type GoogLeNetConfig,
  type InceptionV3Config,
  type LayerRow,
  type Preset,
} from '../../src/web/index.js';
import { renderInceptionV3 } from './architecture-v3.js';
import { branchBlock, headStage, layerBlock, shapeText, stat } from './diagram.js';
import { currentPicture } from './classify.js';
import { showModuleBranches } from './explain-view.js';
import { $, fmt, h, short } from './util.js';

const PRESET_NOTES: Record<Preset, string> = {
  paper: 'the 2014 paper: conv bias, LRN, 5×5 branch, fixed 5×5/3 aux pooling',
  bn: 'the paper with batch norm (bias-free convs), no LRN',
  torchvision: "torchvision's googlenet: batch norm, 3×3 “5×5” branch, 2×2 pool4",
  cifar: 'CIFAR stem: one 3×3 conv to 192, no early downsampling (32×32 input)',
};

/** The GoogLeNet preset drawn (and whose arithmetic is shown), or Inception v3. */
let preset: Preset = 'bn';
let v3 = false;
let aux = true;
const V3_NOTE = "torchvision's inception_v3 (Szegedy et al. 2015): factored 7×7 and 3×3 convolutions, one aux head, 299×299 input";

function inceptionV3Graph(withAux: boolean): { cfg: InceptionV3Config; g: Graph } {
  const cfg = resolveConfig({ arch: 'inception_v3', auxLogits: withAux });
  return { cfg, g: buildInceptionV3(cfg, { mode: withAux ? 'train' : 'eval' }) };
}

function graphOf(p: Preset, withAux: boolean): { cfg: GoogLeNetConfig; g: Graph } {
  const cfg = resolveConfig({ preset: p, auxLogits: withAux });
  return { cfg, g: buildGoogLeNet(cfg, { mode: withAux ? 'train' : 'eval' }) };
}

/** Params and MACs of each branch of an Inception module (rows `<module>.branchK` of a depth-2 summary). */
function branchStats(g: Graph, module: string): Map<string, { params: number; macs: number }> {
  const out = new Map<string, { params: number; macs: number }>();
  for (const row of summarize(g, '', 2).layers) {
    const [name, branch] = row.name.split('.');
    if (name === module && branch?.startsWith('branch')) out.set(branch, { params: row.params, macs: row.macs });
  }
  return out;
}

/** The stem's layers: the ImageNet stem of Table 1, or the CIFAR stem's single 3×3 conv. */
function stemBlocks(cfg: GoogLeNetConfig, row: Map<string, LayerRow>): HTMLElement[] {
  const w = (c: number): number => scaleChannels(c, cfg.width);
  const stem: HTMLElement[] = [];
  if (cfg.stem === 'imagenet') {
    stem.push(layerBlock('conv', 'conv1', `7×7/2 conv, ${w(64)}${cfg.norm === 'batchnorm' ? ' + BN' : ''} + ReLU`, row.get('conv1')));
    stem.push(layerBlock('pool', 'maxpool1', '3×3/2 max pool', row.get('maxpool1')));
    if (cfg.lrn) stem.push(layerBlock('norm', 'lrn1', 'local response norm', row.get('lrn1')));
    stem.push(layerBlock('conv', 'conv2', `1×1 conv, ${w(64)} (3×3 reduce)`, row.get('conv2')));
    stem.push(layerBlock('conv', 'conv3', `3×3 conv, ${w(192)}`, row.get('conv3')));
    if (cfg.lrn) stem.push(layerBlock('norm', 'lrn2', 'local response norm', row.get('lrn2')));
    stem.push(layerBlock('pool', 'maxpool2', '3×3/2 max pool', row.get('maxpool2')));
  } else {
    stem.push(layerBlock('conv', 'conv1', `3×3 conv, ${w(192)} (no downsampling)`, row.get('conv1')));
  }
  return stem;
}

/** An auxiliary classifier's row (greyed out when the model has none). */
function auxBlock(cfg: GoogLeNetConfig, a: string, ar: LayerRow | undefined): HTMLElement {
  const w = (c: number): number => scaleChannels(c, cfg.width);
  const pool = cfg.auxPool === 'fixed' ? '5×5/3 avg pool' : 'adaptive avg pool to 4×4';
  return h(
    'div',
    { class: `aux ${ar ? '' : 'off'}`, 'data-layer': a },
    h('span', { class: 'name', text: `↳ ${a}` }),
    h('span', {
      class: 'what',
      text: `${pool} → 1×1 conv ${w(128)} → fc ${w(1024)} → dropout ${cfg.auxDropout} → fc ${cfg.numClasses}${ar ? ' (training only, loss weight 0.3)' : ' — off: tick “auxiliary classifiers”'}`,
    }),
    stat(ar),
  );
}

function renderDiagram(cfg: GoogLeNetConfig, g: Graph): HTMLElement {
  const s = summarize(g, cfg.preset);
  const row = new Map(s.layers.map((r) => [r.name, r]));
  const w = (c: number): number => scaleChannels(c, cfg.width);
  const k5 = cfg.kernel5;
  const parts: HTMLElement[] = [];
  parts.push(
    layerBlock('io', 'input', `${cfg.inChannels}×${cfg.inputSize}×${cfg.inputSize} image`, {
      name: 'input',
      outputShape: [...g.input.shape],
      params: 0,
      macs: 0,
    }),
  );
  const stem = stemBlocks(cfg, row);
  parts.push(h('div', { class: 'stage' }, h('div', { class: 'stage-title', text: 'Stem' }), ...stem));

  const auxAfter: Record<string, string> = { inception4a: 'aux1', inception4d: 'aux2' };
  const poolBefore: Record<string, string> = { inception4a: 'maxpool3', inception5a: 'maxpool4' };
  let stageBody: HTMLElement[] = [];
  let stageName = 'Stage 3';
  const flush = (): void => {
    if (stageBody.length) parts.push(h('div', { class: 'stage' }, h('div', { class: 'stage-title', text: stageName }), ...stageBody));
    stageBody = [];
  };
  for (const [name, ch] of INCEPTION_TABLE) {
    const pool = poolBefore[name];
    if (pool) {
      flush();
      const kk = pool === 'maxpool4' ? cfg.pool4Kernel : 3;
      parts.push(layerBlock('pool', pool, `${kk}×${kk}/2 max pool`, row.get(pool)));
      stageName = name.startsWith('inception4') ? 'Stage 4' : 'Stage 5';
    }
    const b = branchStats(g, name);
    const branch = (key: string, title: string, ops: string[]): HTMLElement => branchBlock(title, ops, b.get(key));
    const r = row.get(name);
    stageBody.push(
      h(
        'div',
        { class: 'inception', 'data-layer': name },
        h('div', { class: 'ihead' }, h('span', { class: 'name', text: name }), stat(r)),
        h(
          'div',
          { class: 'branches' },
          branch('branch1', '#1×1', [`1×1 conv, ${w(ch.ch1x1)}`]),
          branch('branch2', '#3×3', [`1×1 conv, ${w(ch.ch3x3red)}`, `3×3 conv, ${w(ch.ch3x3)}`]),
          branch('branch3', k5 === 5 ? '#5×5' : '#“5×5” (3×3)', [`1×1 conv, ${w(ch.ch5x5red)}`, `${k5}×${k5} conv, ${w(ch.ch5x5)}`]),
          branch('branch4', 'pool proj', ['3×3/1 max pool', `1×1 conv, ${w(ch.poolProj)}`]),
        ),
        h('div', {
          class: 'concat',
          text: `filter concatenation → ${r ? r.outputShape[0] : '?'} channels · click: its branches on your picture`,
        }),
      ),
    );
    const a = auxAfter[name];
    if (a) stageBody.push(auxBlock(cfg, a, row.get(a)));
  }
  flush();
  parts.push(headStage(cfg, row));
  return h('div', { class: 'flow' }, ...parts);
}

function renderPresetTable(): void {
  const table = $<HTMLTableElement>('preset-table');
  const head = h(
    'tr',
    {},
    h('th', { text: 'preset' }),
    h('th', { text: 'params' }),
    h('th', { text: 'with aux heads' }),
    h('th', { text: 'MACs' }),
  );
  const rows = PRESETS.map((p) => {
    const off = summarize(graphOf(p, false).g, p);
    const on = summarize(graphOf(p, true).g, p);
    return h(
      'tr',
      { class: p === preset && !v3 ? 'selected' : '', 'data-preset': p, title: PRESET_NOTES[p] },
      h('td', { text: p }),
      h('td', { class: `num ${!aux && !v3 && p === preset ? 'hl' : ''}`, 'data-params': off.params, text: fmt(off.params) }),
      h('td', { class: `num ${aux && !v3 && p === preset ? 'hl' : ''}`, 'data-params-aux': on.params, text: fmt(on.params) }),
      h('td', { class: 'num', text: short(off.macs) }),
    );
  });
  const [off, on] = [false, true].map((a) => summarize(inceptionV3Graph(a).g));
  rows.push(
    h(
      'tr',
      { class: v3 ? 'selected' : '', 'data-preset': 'inception_v3', title: V3_NOTE },
      h('td', { text: 'inception_v3' }),
      h('td', { class: `num ${!aux && v3 ? 'hl' : ''}`, 'data-params': off!.params, text: fmt(off!.params) }),
      h('td', { class: `num ${aux && v3 ? 'hl' : ''}`, 'data-params-aux': on!.params, text: fmt(on!.params) }),
      h('td', { class: 'num', text: short(off!.macs) }),
    ),
  );
  table.replaceChildren(h('thead', {}, head), h('tbody', {}, ...rows));
  table.append(
    h('caption', {
      text: '1000 classes, 224×224 input (32×32 for cifar, 299×299 for inception_v3), width 1. Aux heads count only in the training graph.',
    }),
  );
}

function renderArithmetic(cfg: GoogLeNetConfig, g: Graph): void {
  const direct = 128 * 192 * 3 * 3;
  const reduce = 96 * 192 * 1 * 1;
  const after = 128 * 96 * 3 * 3;
  $('seed-example').replaceChildren(
    h('p', {}, 'A 3×3 convolution from 192 to 128 channels (inception3a’s 3×3 branch) needs'),
    h(
      'p',
      { class: 'eq' },
      h('span', { text: '128 · 192 · 3 · 3 = ' }),
      h('strong', { 'data-naive': direct, text: fmt(direct) }),
      ' weights.',
    ),
    h('p', {}, 'With a 1×1 reduction to 96 channels first:'),
    h(
      'p',
      { class: 'eq' },
      h('span', { text: `96 · 192 · 1 · 1 + 128 · 96 · 3 · 3 = ${fmt(reduce)} + ${fmt(after)} = ` }),
      h('strong', { 'data-reduced': reduce + after, text: fmt(reduce + after) }),
      ` (−${(100 * (1 - (reduce + after) / direct)).toFixed(1)}%).`,
    ),
    h(
      'p',
      { class: 'muted' },
      `Per module for preset ${cfg.preset}: the naive module (1×1, 3×3, ` +
        `${cfg.kernel5}×${cfg.kernel5} convs and a pool straight on the input) against the one with 1×1 reductions. Conv weights, multiply-adds per image.`,
    ),
  );
  const rows = compareNaive(cfg, g);
  const tot = rows.reduce(
    (a, r) => ({ n: a.n + r.naive.params, r: a.r + r.reduced.params, nm: a.nm + r.naive.macs, rm: a.rm + r.reduced.macs }),
    { n: 0, r: 0, nm: 0, rm: 0 },
  );
  const arrow = (a: number, b: number, exact: boolean): HTMLElement =>
    h('td', { class: 'num', title: `${fmt(a)} → ${fmt(b)}`, text: exact ? `${fmt(a)} → ${fmt(b)}` : `${short(a)} → ${short(b)}` });
  $('naive-table').replaceChildren(
    h(
      'thead',
      {},
      h('tr', {}, ...['module', 'input', 'weights: naive → reduced', 'MACs: naive → reduced', 'saved'].map((t) => h('th', { text: t }))),
    ),
    h(
      'tbody',
      {},
      ...rows.map((r) =>
        h(
          'tr',
          {},
          h('td', { text: r.name }),
          h('td', { class: 'num', text: `${r.inChannels}×${r.spatial}×${r.spatial}` }),
          arrow(r.naive.params, r.reduced.params, true),
          arrow(r.naive.macs, r.reduced.macs, false),
          h('td', { class: 'num', text: `${(100 * (1 - r.reduced.macs / r.naive.macs)).toFixed(0)}%` }),
        ),
      ),
      h(
        'tr',
        { class: 'sum' },
        h('td', { text: 'all nine' }),
        h('td'),
        arrow(tot.n, tot.r, true),
        arrow(tot.nm, tot.rm, false),
        h('td', { class: 'num', text: `${(100 * (1 - tot.rm / tot.nm)).toFixed(0)}%` }),
      ),
    ),
  );
  const gap = gapVersusDense();
  const fc = summarize(g, cfg.preset).layers.find((l) => l.name === 'fc');
  $('gap-example').replaceChildren(
    h(
      'p',
      {},
      'After inception5b the features are 1024×7×7. GoogLeNet averages each channel over the 7×7 grid (no weights) and feeds the 1024 averages to the classifier.',
    ),
    h(
      'div',
      { class: 'bars' },
      h(
        'div',
        { class: 'barrow' },
        h('span', { text: 'global average pooling' }),
        h('span', { class: 'hbar', style: 'width:0.5%' }),
        h('strong', { 'data-gap': gap.gapParams, text: `${fmt(gap.gapParams)} weights` }),
      ),
      h(
        'div',
        { class: 'barrow' },
        h('span', { text: 'flatten + fc to 1024' }),
        h('span', { class: 'hbar big', style: 'width:100%' }),
        h('strong', { 'data-dense': gap.denseParams, text: `${fmt(gap.denseParams)} weights` }),
      ),
    ),
    h(
      'p',
      { class: 'muted' },
      `A dense layer on the flattened 7·7·1024 = 50,176 values would add ${fmt(gap.denseParams)} weights — ` +
        `${(gap.denseParams / summarize(graphOf(cfg.preset, false).g).params).toFixed(1)}× the whole ${cfg.preset} network. ` +
        `Here the only classifier weights are the final fc’s ${fc ? fmt(fc.params) : ''}.`,
    ),
  );
}

function render(): void {
  const { cfg, g } = graphOf(preset, aux);
  const shown = v3 ? inceptionV3Graph(aux) : undefined;
  const s = summarize(shown?.g ?? g, v3 ? 'Inception v3' : cfg.preset);
  $('arch-total').replaceChildren(
    h('span', { class: 'big', 'data-total-params': s.params, text: fmt(s.params) }),
    h('span', {
      text: ` parameters · ${fmt(s.macs)} multiply-adds per image · input ${shapeText(s.inputShape)} · ${v3 ? V3_NOTE : PRESET_NOTES[preset]}`,
    }),
  );
  $('diagram').replaceChildren(shown ? renderInceptionV3(shown.cfg, shown.g) : renderDiagram(cfg, g));
  renderPresetTable();
  // The naive-module arithmetic is GoogLeNet's: with Inception v3 drawn, it stays on the last preset.
  renderArithmetic(cfg, g);
}

export function initArchitecture(): void {
  const picker = $('preset-picker');
  for (const p of PRESETS) {
    picker.append(
      h(
        'label',
        { class: 'radio', title: PRESET_NOTES[p] },
        h('input', {
          type: 'radio',
          name: 'preset',
          value: p,
          checked: p === preset,
          onchange: () => ((preset = p), (v3 = false), render()),
        }),
        ` ${p}`,
      ),
    );
  }
  picker.append(
    h(
      'label',
      { class: 'radio', title: V3_NOTE },
      h('input', { type: 'radio', name: 'preset', value: 'inception_v3', checked: v3, onchange: () => ((v3 = true), render()) }),
      ' inception_v3',
    ),
  );
  // A click on an Inception module shows its branches' activations for the Classify view's picture.
  $('diagram').addEventListener('click', (ev) => {
    const block = (ev.target as HTMLElement).closest<HTMLElement>('.inception[data-layer]');
    if (block) void showModuleBranches(block, block.dataset.layer!, currentPicture());
  });
  const t = $<HTMLInputElement>('aux-toggle');
  t.checked = aux;
  t.addEventListener('change', () => {
    aux = t.checked;
    render();
  });
  render();
}
