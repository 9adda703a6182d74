/** The pieces both architecture diagrams are drawn with: a layer row with its shape, parameters and multiply-adds. */
import type { LayerRow } from '../../src/web/index.js';
import { fmt, h, short } from './util.js';

export const shapeText = (s: readonly number[]): string => s.join('×');

/** A layer's output shape, parameters and multiply-adds (a dash when the layer is absent). */
export function stat(row: LayerRow | undefined): HTMLElement {
  if (!row) return h('span', { class: 'stats muted', text: '—' });
  return h(
    'span',
    { class: 'stats' },
    h('span', { class: 'shape', title: 'output shape per image', text: shapeText(row.outputShape) }),
    h('span', { class: 'params', title: 'trainable parameters', text: row.params ? `${fmt(row.params)} params` : 'no params' }),
    h('span', { class: 'macs', title: 'multiply-adds per image', text: row.macs ? `${short(row.macs)} MACs` : '' }),
  );
}

export function layerBlock(kind: string, name: string, what: string, row: LayerRow | undefined): HTMLElement {
  return h(
    'div',
    { class: `block ${kind}`, 'data-layer': name },
    h('span', { class: 'name', text: name }),
    h('span', { class: 'what', text: what }),
    stat(row),
  );
}

/** One branch of an Inception module: its title, its operations, its parameters and multiply-adds. */
export function branchBlock(title: string, ops: string[], st: { params: number; macs: number } | undefined): HTMLElement {
  return h(
    'div',
    { class: 'branch' },
    h('div', { class: 'btitle', text: title }),
    ...ops.map((o) => h('div', { class: 'op', text: o })),
    h('div', { class: 'bstats', text: st ? `${fmt(st.params)} p · ${short(st.macs)}` : '' }),
  );
}

/** The head both networks end with: global average pooling, dropout and the classifier. */
export function headStage(cfg: { dropout: number; numClasses: number }, row: Map<string, LayerRow>): HTMLElement {
  return h(
    'div',
    { class: 'stage' },
    h('div', { class: 'stage-title', text: 'Head' }),
    layerBlock('pool', 'avgpool', 'global average pooling', row.get('avgpool')),
    layerBlock('drop', 'dropout', `dropout ${cfg.dropout}`, row.get('dropout')),
    layerBlock('fc', 'fc', `linear → ${cfg.numClasses} logits (softmax)`, row.get('fc')),
  );
}
