/**
 * Every ONNX graph the project writes passes `onnx.checker.check_model(full_check=True)` of
 * Debian's python3-onnx (which also runs strict shape inference): the eval graph of each preset
 * (batch norm folded, and unfolded), eval with every named tap as an output, the train-mode
 * forward with aux heads, the int8 QDQ eval graph of each preset, greyscale input, and a user graph from the functional builder. Small
 * widths and inputs keep it fast; all files are checked by one python process. Skipped with a
 * message when `import onnx` fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import { Rng } from '../src/rng.js';
import { GraphBuilder } from '../src/graph/builder.js';
import { ONNX_PROTO } from '../src/graph/onnx-proto.js';
import type { Graph } from '../src/graph/ir.js';
import { foldBatchNorm, lowerToOnnx, type Weights } from '../src/graph/lower.js';
import { quantizeGraphWeights, quantPoints, type Quantization } from '../src/graph/quantize.js';
import * as L from '../src/layers/index.js';
import { PRESETS, resolveConfig, type GoogLeNetOptions } from '../src/models/config.js';
import { buildGoogLeNet } from '../src/models/googlenet.js';
import { initWeights } from '../src/models/init.js';
import { resolveOptimizer } from '../src/train/optim.js';
import { buildTrainGraph, trainLayout } from '../src/train/train-graph.js';

const PYTHON = '/usr/bin/python3';
const hasOnnx = spawnSync(PYTHON, ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0;

/** Graph and weights without an ONNX Runtime session (lowering is all this test needs). */
function googlenet(options: GoogLeNetOptions): { evalGraph: Graph; trainGraph: Graph; weights: Weights } {
  const cfg = resolveConfig(options);
  const trainGraph = buildGoogLeNet(cfg, { mode: 'train' });
  return {
    evalGraph: buildGoogLeNet(cfg, { mode: 'eval' }),
    trainGraph,
    weights: initWeights(trainGraph.params.values(), cfg, new Rng(1)),
  };
}

/** int8 QDQ parameters without calibration (the checker needs no realistic ranges). */
function fakeQuantization(g: Graph, weights: Weights): Quantization {
  const folded = foldBatchNorm(g, weights);
  const { calibrate } = quantPoints(folded.graph);
  return {
    weights: quantizeGraphWeights(folded.graph, folded.weights),
    activations: new Map(calibrate.map((v, i) => [v, { scale: 0.02, zeroPoint: i === 0 ? 128 : 0 }])),
  };
}

/** The functional builder: a stem, an LRN, a naive and a reduced Inception module, the aux head. */
function userGraph(): { graph: Graph; weights: Weights } {
  const b = new GraphBuilder();
  const x = b.input('image', [3, 40, 40]);
  const stem = L.lrn(
    L.maxPool(L.basicConv(x, 'stem', { out: 16, kernel: 3, pad: 1, norm: 'none' }), 'pool', { kernel: 3, stride: 2 }),
    'lrn',
  );
  const naive = L.naiveInception(stem, { name: 'naive', ch1x1: 8, ch3x3: 8, ch5x5: 4 });
  const reduced = b.tap(
    'reduced',
    L.inception(naive, { name: 'reduced', ch1x1: 8, ch3x3red: 4, ch3x3: 8, ch5x5red: 2, ch5x5: 4, poolProj: 4 }),
  );
  b.output('aux', L.inceptionAux(reduced, { name: 'aux', numClasses: 5, pool: 'fixed', convChannels: 8, hidden: 16 }));
  b.output('logits', L.linear(L.dropout(L.flatten(L.globalAvgPool(reduced)), 'drop', 0.4), 'fc', { out: 5 }));
  const graph = b.build();
  return { graph, weights: initWeights(graph.params.values(), resolveConfig({ preset: 'paper' }), new Rng(2)) };
}

/** Every kind of ONNX graph the project writes, by name: eval, train forward, and training steps (`-train-step-`). */
function projectModels(): [string, Uint8Array][] {
  const models: [string, Uint8Array][] = [];
  for (const preset of PRESETS) {
    const inputSize = preset === 'cifar' ? 32 : 96;
    const m = googlenet({ preset, width: 0.25, inputSize, numClasses: 10, auxLogits: true });
    const g = m.evalGraph;
    models.push([`${preset}-eval`, lowerToOnnx(g, { mode: 'eval', weights: m.weights }).bytes]);
    models.push([`${preset}-eval-unfolded`, lowerToOnnx(g, { mode: 'eval', weights: m.weights, fold: false }).bytes]);
    models.push([`${preset}-eval-taps`, lowerToOnnx(g, { mode: 'eval', weights: m.weights, outputs: { ...g.outputs, ...g.taps } }).bytes]);
    const quantization = fakeQuantization(g, m.weights);
    models.push([`${preset}-eval-int8-qdq`, lowerToOnnx(g, { mode: 'eval', weights: m.weights, quantization }).bytes]);
    models.push([`${preset}-train-aux`, lowerToOnnx(m.trainGraph, { mode: 'train', weights: m.weights }).bytes]);
    for (const maxPoolGrad of ['indices', 'masks', 'mixed'] as const) {
      const tg = buildTrainGraph(
        m.trainGraph,
        trainLayout(m.trainGraph, () => false),
        {
          kind: 'step',
          numClasses: 10,
          auxWeight: 0.3,
          labelSmoothing: 0,
          optimizer: resolveOptimizer({ type: 'sgd', momentum: 0.9 }),
          lowering: { maxPoolGrad },
        },
      );
      models.push([`${preset}-train-step-${maxPoolGrad}`, tg.bytes]);
    }
  }
  const grey = googlenet({ preset: 'cifar', width: 0.25, inputSize: 28, inChannels: 1, numClasses: 10 });
  models.push(['cifar-grey-eval', lowerToOnnx(grey.evalGraph, { mode: 'eval', weights: grey.weights }).bytes]);
  models.push(['cifar-grey-train', lowerToOnnx(grey.trainGraph, { mode: 'train', weights: grey.weights }).bytes]);
  const tv = googlenet({ preset: 'torchvision', width: 0.25, inputSize: 64, transformInput: true });
  models.push(['torchvision-transform-input-eval', lowerToOnnx(tv.evalGraph, { mode: 'eval', weights: tv.weights }).bytes]);
  const user = userGraph();
  models.push(['builder-eval', lowerToOnnx(user.graph, { mode: 'eval', weights: user.weights }).bytes]);
  models.push(['builder-train', lowerToOnnx(user.graph, { mode: 'train', weights: user.weights }).bytes]);

  return models;
}

test('every ONNX graph the project writes passes onnx.checker (full_check)', (t) => {
  if (!hasOnnx) return t.skip(`${PYTHON} cannot import onnx (install python3-onnx)`);
  // Training steps use opset 18's BitwiseXor (dropout seeds), which the downgrade below cannot express.
  const models = projectModels().filter(([name]) => !name.includes('-train-step-'));
  const dir = mkdtempSync(join(tmpdir(), 'googlenet-onnx-check-'));
  try {
    const files = models.map(([name, bytes]) => {
      const f = join(dir, `${name}.onnx`);
      writeFileSync(f, bytes);
      return f;
    });
    const r = spawnSync(
      PYTHON,
      [
        '-c',
        `
import json, os, sys, onnx, onnx.defs, onnx.numpy_helper
KNOWN = onnx.defs.onnx_opset_version()
# Reductions whose axes moved from an attribute to an input in opset 18 (ReduceSum did so in 13).
AXES_18 = {'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2',
           'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'}

def downgrade(m):
    # An onnx older than the model's opset validates against older schemas and misreads the
    # opset-18 reductions; express them in opset 17 (constant axes input -> attribute).
    inits = {t.name: t for t in m.graph.initializer}
    rewritten = 0
    for n in m.graph.node:
        if n.op_type in AXES_18 and len(n.input) == 2:
            axes = onnx.numpy_helper.to_array(inits[n.input[1]]).tolist()
            del n.input[1]
            n.attribute.append(onnx.helper.make_attribute('axes', axes))
            rewritten += 1
    for o in m.opset_import:
        if o.domain in ('', 'ai.onnx'): o.version = KNOWN
    return rewritten

out = {}
for f in sys.argv[1:]:
    name = os.path.basename(f)
    try:
        m = onnx.load(f)
        opset = [o.version for o in m.opset_import if o.domain in ('', 'ai.onnx')]
        outputs = [o.name for o in m.graph.output]
        rewritten = downgrade(m) if opset and opset[0] > KNOWN else 0
        onnx.checker.check_model(m, full_check=True)
        out[name] = {'ok': True, 'opset': opset, 'outputs': outputs, 'rewritten': rewritten}
    except Exception as e:
        out[name] = {'ok': False, 'error': f'{type(e).__name__}: {e}'.splitlines()[0][:400]}
print(json.dumps({'known': KNOWN, 'version': onnx.__version__, 'models': out}))
`,
        ...files,
      ],
      { encoding: 'utf8', maxBuffer: 1 << 24 },
    );
    assert.equal(r.status, 0, r.stderr);
    const checked = JSON.parse(r.stdout) as {
      known: number;
      version: string;
      models: Record<string, { ok: boolean; error?: string; opset?: number[]; outputs?: string[]; rewritten?: number }>;
    };
    const result = checked.models;
    const downgraded = Object.entries(result)
      .filter(([, v]) => v.rewritten)
      .map(([k, v]) => `${k} (${v.rewritten})`);
    if (downgraded.length) {
      t.diagnostic(
        `onnx ${checked.version} knows opsets up to ${checked.known}: opset-18 reductions (axes as input) were ` +
          `re-expressed with an axes attribute before checking in ${downgraded.join(', ')}`,
      );
    }
    assert.equal(Object.keys(result).length, models.length);
    const failed = Object.entries(result)
      .filter(([, v]) => !v.ok)
      .map(([k, v]) => `${k}: ${v.error}`);
    assert.deepEqual(failed, [], `onnx.checker failures:\n${failed.join('\n')}`);
    assert.deepEqual(
      result['torchvision-train-aux.onnx']!.outputs!.slice(0, 3),
      ['logits', 'aux1', 'aux2'],
      'train graph returns logits, aux1, aux2',
    );
    assert.deepEqual(result['torchvision-eval.onnx']!.outputs, ['logits'], 'inference never computes the aux heads');
    for (const [k, v] of Object.entries(result)) assert.equal(v.opset!.length, 1, `${k}: one default-domain opset`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

interface DecodedNode {
  op_type: string;
  output: string[];
  attribute: { name: string; i?: number | { toNumber(): number } }[];
}

test('every ONNX graph runs on every provider: no ceil_mode 1, and no Indices or scatter with maxPoolGrad masks', () => {
  const model = protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType('onnx.ModelProto');
  const models = projectModels();
  assert.ok(models.some(([name]) => name.endsWith('-masks')));
  for (const [name, bytes] of models) {
    const nodes = (model.toObject(model.decode(bytes), { defaults: true }) as { graph: { node: DecodedNode[] } }).graph.node;
    assert.ok(
      nodes.some((n) => n.op_type === 'MaxPool'),
      `${name}: has max pools`,
    );
    for (const n of nodes) {
      const ceil = n.attribute.find((a) => a.name === 'ceil_mode');
      const value = typeof ceil?.i === 'object' ? ceil.i.toNumber() : (ceil?.i ?? 0);
      assert.equal(value, 0, `${name}: ${n.op_type} with ceil_mode ${value} (ONNX Runtime's WebGPU providers reject it)`);
      if (name.endsWith('-masks')) {
        assert.ok(!(n.op_type === 'MaxPool' && n.output.length > 1), `${name}: MaxPool with an Indices output`);
        assert.notEqual(n.op_type, 'ScatterElements', `${name}: ScatterElements`);
      }
    }
  }
});
