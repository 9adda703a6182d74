/**
 * Export and round trips: `googlenet export --format safetensors` is taken back by PyTorch's
 * `load_state_dict(strict=True)` (Debian's python3-torch; skipped with a message when absent) and
 * gives torch's logits; a model directory saves and loads losslessly; `export --format onnx`
 * writes a file that onnxruntime-node runs to the same logits.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import '../src/runtime/engine-node.js';
import { Classifier, defaultPreprocess } from '../src/infer/classifier.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../src/image/normalize.js';
import { cifar10Classes } from '../src/infer/labels-node.js';
import { GoogLeNet } from '../src/models/model.js';
import { relativeError, type Tensor } from '../src/tensor.js';
import { loadStateDict } from '../src/weights/formats-node.js';
import { loadModelDir, saveModelDir } from '../src/weights/model-dir-node.js';
import { loadSafetensorsFile } from '../src/weights/safetensors-node.js';
import { fixturePath, missingFixture } from './fixtures.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(REPO, 'src', 'cli', 'main.ts');
const PYTHON = '/usr/bin/python3';
const TOL = 1e-4;
const WEIGHTS = 'googlenet-tv-aux10.safetensors';
const IO = 'io-aux10.safetensors';

/** Runs `googlenet …`; expects success, nothing on stdout, and the "wrote" log on stderr. */
function exportCli(...args: string[]): void {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'export', ...args], { cwd: REPO, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^wrote .+\n$/);
}

function sameWeights(
  a: Map<string, { dims: readonly number[]; data: ArrayLike<unknown> }>,
  b: Map<string, { dims: readonly number[]; data: ArrayLike<unknown> }>,
): void {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [k, v] of a) {
    const w = b.get(k)!;
    assert.deepEqual([...w.dims], [...v.dims], k);
    assert.equal(w.data.constructor, v.data.constructor, k);
    assert.deepEqual(w.data, v.data, k);
  }
}

let tmp: string;
/** A small cifar model with aux heads, moved off its initial batch-norm statistics. */
let small: GoogLeNet;
let smallInput: Tensor;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'googlenet-export-'));
  small = new GoogLeNet({ preset: 'cifar', numClasses: 10, auxLogits: true, width: 0.25 }, { seed: 7 });
  const n = 2 * 3 * 32 * 32;
  smallInput = { dims: [2, 3, 32, 32], data: Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 1.5) };
  await small.forward(smallInput, { training: true }); // running statistics and num_batches_tracked move
  small.labels = [...cifar10Classes];
  small.preprocess = { resize: 36, crop: 32, mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26] };
});

after(async () => {
  await small.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

test('model directory round trip: config, labels, preprocessing, identical weights and logits', async () => {
  const dir = join(tmp, 'small');
  saveModelDir(small, dir);
  const back = loadModelDir(dir);
  assert.deepEqual(back.config, small.config);
  assert.deepEqual(back.labels, small.labels);
  assert.deepEqual(back.preprocess, small.preprocess);
  sameWeights(back.stateDict(), small.stateDict());
  assert.ok((back.weights.get('conv1.bn.num_batches_tracked') as BigInt64Array)[0] === 1n, 'num_batches_tracked survives');
  const [a, b] = [await small.forward(smallInput), await back.forward(smallInput)];
  assert.deepEqual(b.logits, a.logits);
  await back.dispose();

  // Through the CLI: `--format web` is a model directory too, `--format safetensors` the same weights.
  exportCli('--model', dir, '--format', 'web', '-o', join(tmp, 'web'));
  const web = loadModelDir(join(tmp, 'web'));
  assert.deepEqual([web.config, web.labels, web.preprocess], [small.config, small.labels, small.preprocess]);
  sameWeights(web.stateDict(), small.stateDict());
  await web.dispose();
  const nested = join(tmp, 'new', 'folder', 'small.safetensors'); // parent folders are created
  exportCli('--model', dir, '--format', 'safetensors', '-o', nested);
  sameWeights(loadStateDict(nested), small.stateDict());
});

test('a Classifier over a model without preprocessing uses the default (ImageNet mean/std for RGB)', () => {
  const m = new GoogLeNet({ preset: 'cifar', numClasses: 10, width: 0.25 }, {}, new Map());
  assert.equal(m.preprocess, undefined);
  const p = new Classifier(m).preprocessing;
  assert.deepEqual(p, { resize: 32, crop: 32, mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] });
  assert.deepEqual(p, defaultPreprocess(m.config));
  assert.deepEqual(defaultPreprocess({ ...m.config, inputSize: 224 }).resize, 256);
  assert.deepEqual(new Classifier(small).preprocessing, small.preprocess, "a model's own preprocessing wins");
});

test('export --format onnx: onnxruntime-node loads the file and gives our logits (small model)', async () => {
  const dir = join(tmp, 'small-onnx');
  saveModelDir(small, dir);
  const file = join(tmp, 'onnx', 'small.onnx');
  exportCli('--model', dir, '--format', 'onnx', '-o', file);
  const session = await ort.InferenceSession.create(file);
  try {
    assert.deepEqual(session.outputNames, ['logits']);
    const out = await session.run({
      [session.inputNames[0]!]: new ort.Tensor('float32', smallInput.data as Float32Array, smallInput.dims),
    });
    const ours = (await small.forward(smallInput)).logits;
    assert.deepEqual(out['logits']!.dims, [2, 10]);
    const err = relativeError(out['logits']!.data as Float32Array, ours.data);
    assert.ok(err <= 1e-6, `relative error ${err}`);
  } finally {
    await session.release();
  }
});

test("export --format onnx of the torchvision fixture: onnxruntime-node gives torchvision's eval logits", async (t) => {
  const weights = fixturePath(WEIGHTS);
  const io = fixturePath(IO);
  if (!weights || !io) return t.skip(missingFixture(weights ? IO : WEIGHTS));
  const file = join(tmp, 'tv.onnx');
  exportCli('--weights', weights, '--num-classes', '10', '--format', 'onnx', '-o', file);
  const ref = loadSafetensorsFile(io);
  const input = ref.get('input')!;
  const session = await ort.InferenceSession.create(file);
  try {
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', input.data as Float32Array, input.dims) });
    const err = relativeError(out['logits']!.data as Float32Array, ref.get('eval_logits')!.data as Float32Array);
    assert.ok(err <= TOL, `relative error ${err}`);
  } finally {
    await session.release();
  }
});

test('export --format safetensors: torchvision load_state_dict(strict=True) takes it and gives our logits', async (t) => {
  const weights = fixturePath(WEIGHTS);
  const io = fixturePath(IO);
  if (!weights || !io) return t.skip(missingFixture(weights ? IO : WEIGHTS));
  if (spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { stdio: 'ignore' }).status !== 0) {
    return t.skip(`${PYTHON} cannot import torch and torchvision (install python3-torch and python3-torchvision)`);
  }
  const out = join(tmp, 'tv-export.safetensors');
  exportCli('--weights', weights, '--num-classes', '10', '--aux', '--format', 'safetensors', '-o', out);

  // Python without the safetensors package: the format is 8 bytes of header length, a JSON
  // header, then the raw little-endian tensors.
  const r = spawnSync(
    PYTHON,
    [
      '-c',
      `
import collections, json, struct, sys, torch, torchvision
def load(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    header = json.loads(b[8:8 + n])
    dt = {'F32': torch.float32, 'F64': torch.float64, 'I64': torch.int64}
    sd = collections.OrderedDict()
    for k, v in header.items():
        if k == '__metadata__': continue
        s, e = v['data_offsets']
        sd[k] = torch.frombuffer(bytearray(b[8 + n + s:8 + n + e]), dtype=dt[v['dtype']]).reshape(v['shape'])
    return sd
exported, original, io = load(sys.argv[1]), load(sys.argv[2]), load(sys.argv[3])
model = torchvision.models.googlenet(num_classes=10, aux_logits=True, init_weights=False)
model.load_state_dict(exported, strict=True)
assert sorted(exported) == sorted(model.state_dict()) == sorted(original)
same = all(exported[k].dtype == original[k].dtype and torch.equal(exported[k], original[k]) for k in original)
model.eval()
with torch.no_grad():
    logits = model(io['input'])
print(json.dumps({'same': same, 'logits': logits.flatten().tolist()}))
`,
      out,
      weights,
      io,
    ],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  assert.equal(r.status, 0, r.stderr);
  const torchOut = JSON.parse(r.stdout) as { same: boolean; logits: number[] };
  assert.ok(torchOut.same, 'every exported tensor equals the imported one (values and dtypes)');

  const ours = new GoogLeNet({ preset: 'torchvision', numClasses: 10, auxLogits: true }, {}, new Map());
  ours.loadStateDict(loadStateDict(out), out);
  const logits = (await ours.forward(loadSafetensorsFile(io).get('input') as unknown as Tensor)).logits;
  await ours.dispose();
  const err = relativeError(logits.data, torchOut.logits);
  assert.ok(err <= TOL, `ours vs torch: relative error ${err}`);
});
