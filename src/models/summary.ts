/**
 * torchinfo-style summaries of a graph (layer, output shape, parameters, multiply-adds) and the
 * tutorials' parameter arithmetic: naive vs reduced Inception modules, global average pooling vs a dense layer.
 */
import type { Graph, OpNode } from '../graph/ir.js';
import { isTrainable, nodeParams } from '../graph/ir.js';
import { nodeMacs } from '../graph/ops/index.js';
import { numel } from '../tensor.js';
import type { GoogLeNetConfig } from './config.js';
import { INCEPTION_TABLE, scaleChannels } from './googlenet.js';
import { describeValue, OptionError } from '../errors.js';

export interface LayerRow {
  /** Top-level module name (`conv1`, `inception3a`, `aux1`, `fc`). */
  name: string;
  /** Per-sample output shape of the module's last operation. */
  outputShape: number[];
  /** Trainable parameters (batch-norm statistics excluded). */
  params: number;
  /** Multiply-adds per image. */
  macs: number;
}

export interface Summary {
  preset: string;
  inputShape: number[];
  layers: LayerRow[];
  params: number;
  macs: number;
}

/** The module a node belongs to, `depth` levels deep (`inception3a`, `inception3a.branch2`). */
function moduleOf(n: OpNode, depth: number): string {
  return n.scope.split('.').slice(0, depth).join('.').replace(/#\d+$/, '');
}

/**
 * One row per module, in execution order; totals over the whole graph. `depth` 1 (default) gives
 * the top-level modules (`conv1`, `inception3a`, …), 2 their children (`inception3a.branch1`, …),
 * as torchinfo's `depth`.
 */
export function summarize(g: Graph, preset = '', depth = 1): Summary {
  if (typeof g !== 'object' || g === null || !Array.isArray(g.nodes)) {
    throw new OptionError(`summarize: expected a graph (model.graph('eval') or buildGoogLeNet(…)), received ${describeValue(g)}`, { option: 'graph' });
  }
  const rows = new Map<string, LayerRow>();
  const counted = new Set<string>();
  for (const n of g.nodes) {
    const name = moduleOf(n, depth);
    let row = rows.get(name);
    if (!row) {
      row = { name, outputShape: [], params: 0, macs: 0 };
      rows.set(name, row);
    }
    row.outputShape = [...g.shapes.get(n.id)!];
    row.macs += nodeMacs(n, g);
    for (const p of nodeParams(n)) {
      const spec = g.params.get(p);
      if (!spec || counted.has(p) || !isTrainable(spec)) continue;
      counted.add(p);
      row.params += numel(spec.shape);
    }
  }
  const layers = [...rows.values()];
  return {
    preset,
    inputShape: [...g.input.shape],
    layers,
    params: layers.reduce((s, r) => s + r.params, 0),
    macs: layers.reduce((s, r) => s + r.macs, 0),
  };
}

const fmt = (x: number): string => x.toLocaleString('en-US');

/** The table as text, torchinfo's layout. */
export function formatSummary(s: Summary): string {
  const header = ['Layer', 'Output shape', 'Params', 'Mult-adds'];
  const body = s.layers.map((r) => [r.name, `[N, ${r.outputShape.join(', ')}]`, r.params ? fmt(r.params) : '--', r.macs ? fmt(r.macs) : '--']);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('   ');
  const rule = '='.repeat(line(header).length);
  return [
    rule,
    line(header),
    rule,
    ...body.map(line),
    rule,
    `Preset: ${s.preset}   input: [N, ${s.inputShape.join(', ')}]`,
    `Total params: ${fmt(s.params)}`,
    `Total mult-adds per image: ${(s.macs / 1e9).toFixed(3)} G (${fmt(s.macs)})`,
    rule,
  ].join('\n');
}

export interface NaiveRow {
  name: string;
  inChannels: number;
  spatial: number;
  naive: { params: number; macs: number; outChannels: number };
  reduced: { params: number; macs: number; outChannels: number };
}

/**
 * Per Inception module: the naive module (1×1, 3×3, 5×5 convs and a 3×3 pool on the full input,
 * the Keras tutorial) against the module with 1×1 reductions, with the same output widths of the conv
 * branches. Weights only (as the seeds count: 192→128 3×3 is 221,184; via a 96-channel 1×1, 129,024).
 */
export function compareNaive(cfg: GoogLeNetConfig, g: Graph): NaiveRow[] {
  const k5 = cfg.kernel5;
  return INCEPTION_TABLE.map(([name, ch0]) => {
    const w = (c: number): number => scaleChannels(c, cfg.width);
    const ch = { ch1x1: w(ch0.ch1x1), ch3x3red: w(ch0.ch3x3red), ch3x3: w(ch0.ch3x3), ch5x5red: w(ch0.ch5x5red), ch5x5: w(ch0.ch5x5), poolProj: w(ch0.poolProj) };
    const concat = g.nodes.find((n) => n.id === name);
    if (!concat || concat.op !== 'concat') throw new OptionError(`compareNaive: no module ${name}`, { option: 'name' });
    const cin = g.shapes.get(g.nodes.find((n) => n.scope === `${name}.branch1.conv`)!.op === 'conv' ? (g.nodes.find((n) => n.scope === `${name}.branch1.conv`) as { input: string }).input : '')![0]!;
    const [, h, wd] = g.shapes.get(name)!;
    const hw = h! * wd!;
    const naiveParams = cin * ch.ch1x1 + cin * ch.ch3x3 * 9 + cin * ch.ch5x5 * k5 * k5;
    const reducedParams =
      cin * ch.ch1x1 + cin * ch.ch3x3red + ch.ch3x3red * ch.ch3x3 * 9 + cin * ch.ch5x5red + ch.ch5x5red * ch.ch5x5 * k5 * k5 + cin * ch.poolProj;
    return {
      name,
      inChannels: cin,
      spatial: h!,
      naive: { params: naiveParams, macs: naiveParams * hw, outChannels: ch.ch1x1 + ch.ch3x3 + ch.ch5x5 + cin },
      reduced: { params: reducedParams, macs: reducedParams * hw, outChannels: ch.ch1x1 + ch.ch3x3 + ch.ch5x5 + ch.poolProj },
    };
  });
}

/** Global average pooling (no weights) against flattening 7×7×1024 into a dense layer of `units`. */
export function gapVersusDense(channels = 1024, spatial = 7, units = 1024): { gapParams: number; denseParams: number } {
  return { gapParams: 0, denseParams: channels * spatial * spatial * units };
}

export function formatNaive(rows: NaiveRow[]): string {
  const header = ['Module', 'In', 'Naive params', 'Naive MACs', 'Reduced params', 'Reduced MACs', 'Saved'];
  const body = rows.map((r) => [
    r.name,
    `${r.inChannels}×${r.spatial}×${r.spatial}`,
    fmt(r.naive.params),
    fmt(r.naive.macs),
    fmt(r.reduced.params),
    fmt(r.reduced.macs),
    `${(100 * (1 - r.reduced.macs / r.naive.macs)).toFixed(1)}%`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const gap = gapVersusDense();
  return [
    line(header),
    ...body.map(line),
    '',
    'Seed arithmetic: a 3×3 conv 192→128 needs 128·192·3·3 = 221,184 weights; through a 1×1 reduction to 96,',
    '96·192·1·1 + 128·96·3·3 = 129,024.',
    `Global average pooling on 7×7×1024: ${fmt(gap.gapParams)} weights; flatten + fully connected to 1024 units: ${fmt(gap.denseParams)}.`,
  ].join('\n');
}
