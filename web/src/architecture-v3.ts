/**
 * Inception v3 in the Architecture view: its stem, its eleven modules (InceptionA–E) with their
 * branches, the auxiliary classifier on Mixed_6e, and the head, each with the output shape,
 * parameters and multiply-adds of the graph that runs (`buildInceptionV3` + `summarize`). The
 * branches and their operations are read from the graph itself, so the drawing cannot drift
 * from what computes.
 */
import {
  INCEPTION_V3_STEM,
  INCEPTION_V3_TABLE,
  scaleChannels,
  summarize,
  type Graph,
  type InceptionV3Config,
  type LayerRow,
  type OpNode,
} from '../../src/web/index.js';
import { branchBlock, headStage, layerBlock, stat } from './diagram.js';
import { h } from './util.js';

/** Stage titles: where the grid changes (at 299×299: 35×35, 17×17, 8×8). */
const STAGES: Record<string, string> = {
  Mixed_5: 'InceptionA, 35×35',
  Mixed_6: 'InceptionB (grid reduction), InceptionC: 7×7 factored into 1×7 and 7×1, 17×17',
  Mixed_7: 'InceptionD (grid reduction), InceptionE: parallel 1×3 and 3×1, 8×8',
};

/** What one operation of a branch does, from its node: "1×7 conv, 128", "3×3/2 max pool". */
function opText(n: OpNode): string | undefined {
  if (n.op === 'conv') return `${n.kernel[0]}×${n.kernel[1]}${n.stride[0] > 1 ? `/${n.stride[0]}` : ''} conv, ${n.outChannels}`;
  if (n.op === 'avgpool' || n.op === 'maxpool')
    return `${n.kernel[0]}×${n.kernel[1]}/${n.stride[0]} ${n.op === 'avgpool' ? 'avg' : 'max'} pool`;
  return undefined;
}

/** A module's branches in graph order: branch5x5_1 and branch5x5_2 are one branch (branch5x5), as are E's 2a/2b ends. */
function branches(g: Graph, module: string, rows: LayerRow[]): HTMLElement[] {
  const family = (child: string): string => child.replace(/_(\d+[ab]?)$/, '');
  const order: string[] = [];
  const stats = new Map<string, { params: number; macs: number }>();
  for (const r of rows) {
    const [name, child] = r.name.split('.');
    if (name !== module || !child) continue;
    const f = family(child);
    if (!stats.has(f)) order.push(f);
    const s = stats.get(f) ?? { params: 0, macs: 0 };
    stats.set(f, { params: s.params + r.params, macs: s.macs + r.macs });
  }
  return order.map((f) => {
    const ops = g.nodes
      .filter((n) => n.scope.startsWith(`${module}.`) && family(n.scope.split('.')[1]!) === f)
      .flatMap((n) => opText(n) ?? []);
    return branchBlock(f, ops, stats.get(f));
  });
}

/** The Inception v3 diagram for a resolved config and its graph. */
export function renderInceptionV3(cfg: InceptionV3Config, g: Graph): HTMLElement {
  const rows = summarize(g, 'Inception v3', 2).layers;
  const row = new Map(summarize(g, 'Inception v3').layers.map((r) => [r.name, r]));
  const w = (c: number): number => scaleChannels(c, cfg.width);
  const parts: HTMLElement[] = [
    layerBlock('io', 'input', `${cfg.inChannels}×${cfg.inputSize}×${cfg.inputSize} image`, {
      name: 'input',
      outputShape: [...g.input.shape],
      params: 0,
      macs: 0,
    }),
  ];
  const stem = INCEPTION_V3_STEM.map(([name, l]) =>
    l === 'maxpool'
      ? layerBlock('pool', name, '3×3/2 max pool', row.get(name))
      : layerBlock('conv', name, `${l.kernel}×${l.kernel}${l.stride ? `/${l.stride}` : ''} conv, ${w(l.out)} + BN + ReLU`, row.get(name)),
  );
  parts.push(h('div', { class: 'stage' }, h('div', { class: 'stage-title', text: 'Stem' }), ...stem));
  for (const prefix of Object.keys(STAGES)) {
    const body: HTMLElement[] = [];
    for (const [name, m] of INCEPTION_V3_TABLE) {
      if (!name.startsWith(prefix)) continue;
      const r = row.get(name);
      body.push(
        h(
          'div',
          { class: 'inception', 'data-layer': name },
          h('div', { class: 'ihead' }, h('span', { class: 'name', text: `${name} · Inception${m.block}` }), stat(r)),
          h('div', { class: 'branches' }, ...branches(g, name, rows)),
          h('div', { class: 'concat', text: `filter concatenation → ${r ? r.outputShape[0] : '?'} channels` }),
        ),
      );
      if (name === 'Mixed_6e') {
        const ar = row.get('AuxLogits');
        body.push(
          h(
            'div',
            { class: `aux ${ar ? '' : 'off'}`, 'data-layer': 'AuxLogits' },
            h('span', { class: 'name', text: '↳ AuxLogits' }),
            h('span', {
              class: 'what',
              text:
                `5×5/3 avg pool → 1×1 conv ${w(128)} → 5×5 conv ${w(768)} → global avg pool → fc ${cfg.numClasses}` +
                (ar ? ' (training only, loss weight 0.4)' : ' — off: tick “auxiliary classifiers”'),
            }),
            stat(ar),
          ),
        );
      }
    }
    parts.push(h('div', { class: 'stage' }, h('div', { class: 'stage-title', text: `${prefix}: ${STAGES[prefix]}` }), ...body));
  }
  parts.push(headStage(cfg, row));
  return h('div', { class: 'flow' }, ...parts);
}
