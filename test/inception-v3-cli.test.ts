/**
 * Inception v3 through the CLI, end to end, on a narrow network (width 0.125: every property here
 * is the machinery's, not the full width's, which the parity tests cover): train from scratch with
 * its aux head at 299×299 and resume; fine-tune a frozen backbone under a new head on another
 * folder (`train --from … --freeze-backbone`); `predict --features avg_pool` against the
 * library's `features()`; `quantize` to int8 and predict with it; `explain` (Grad-CAM, branch
 * activations); `serve` over HTTP; the Redis queue's workers; `eval` on ImageNet WordNet-id
 * folders; a model without its top (Keras' include_top=False). One training run is shared by the
 * tests after it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import '../src/runtime/engine-node.js';
import { GoogLeNet } from '../src/models/model.js';
import { relativeError } from '../src/tensor.js';
import { decodeImageFile } from '../src/image/decode-node.js';
import { Classifier } from '../src/infer/classifier.js';
import { loadModelDir, saveModelDir } from '../src/weights/model-dir-node.js';
import { loadSafetensorsFile } from '../src/weights/safetensors-node.js';
import { cliAsync, MAIN, REPO, type Run } from './cli-run.js';
import { fixturePath } from './fixtures.js';

let tmp: string;
/** Three classes of four 120×100 pictures, and two of three 90×90 JPEGs (the fine-tuning folder). */
let animals: string;
let colours: string;
/** The run folder of the shared training run (a model directory once it is done). */
let run: string;

function ok(r: Run, what: string): void {
  assert.equal(r.status, 0, `${what}:\n${r.stderr}`);
}

async function pictures(root: string, classes: string[], n: number, size: [number, number], ext: 'png' | 'jpg'): Promise<void> {
  for (const [c, name] of classes.entries()) {
    mkdirSync(join(root, name), { recursive: true });
    for (let i = 0; i < n; i++) {
      const px = Buffer.alloc(size[0] * size[1] * 3).map((_, k) => (k % 3 === c % 3 ? 150 : 40) + ((k * (7 + i) + c * 31) % 90));
      const img = sharp(px, { raw: { width: size[0], height: size[1], channels: 3 } });
      await (ext === 'png' ? img.png() : img.jpeg()).toFile(join(root, name, `${i}.${ext}`));
    }
  }
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'googlenet-v3-'));
  animals = join(tmp, 'animals');
  colours = join(tmp, 'colours');
  await pictures(animals, ['cat', 'dog', 'fox'], 4, [120, 100], 'png');
  await pictures(colours, ['blue', 'red'], 3, [90, 90], 'jpg');
  run = join(tmp, 'run');
});
after(() => rmSync(tmp, { recursive: true, force: true }));

test('train --arch inception_v3 --aux at 299×299: aux weight 0.4, a v3 model directory, and --resume', async () => {
  const base = ['train', '--dataset', 'folder', '--data', animals, '--arch', 'inception_v3', '--width', '0.125', '--aux'];
  const args = [...base, '--epochs', '2', '--batch-size', '3', '--val-holdout', '3', '--seed', '1', '--progress', 'none', '--out', run];
  const first = await cliAsync([...args, '--max-steps', '4', '--json']);
  ok(first, 'train');
  assert.equal((JSON.parse(first.stdout) as { status: string; step: number }).step, 4);
  const rest = await cliAsync(['train', '--dataset', 'folder', '--out', run, '--resume', '--progress', 'none', '--json']);
  ok(rest, 'train --resume');
  const done = JSON.parse(rest.stdout) as { status: string; step: number };
  assert.deepEqual([done.status, done.step], ['completed', 6]);
  const runJson = JSON.parse(readFileSync(join(run, 'run.json'), 'utf8')) as { config: { auxWeight: number; model: { arch: string } } };
  assert.deepEqual([runJson.config.auxWeight, runJson.config.model.arch], [0.4, 'inception_v3']);
  const cfg = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as {
    version: number;
    model: Record<string, unknown>;
    preprocess: unknown;
  };
  assert.equal(cfg.version, 3, 'an Inception v3 directory is format version 3');
  assert.deepEqual([cfg.model['arch'], cfg.model['auxLogits'], cfg.model['inputSize']], ['inception_v3', true, 299]);
  assert.deepEqual(cfg.preprocess, { resize: 342, crop: 299, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
  const keys = [...loadSafetensorsFile(join(run, 'model.safetensors')).keys()];
  assert.ok(keys.includes('AuxLogits.conv1.conv.weight') && keys.includes('Mixed_7c.branch3x3dbl_3b.bn.running_var'));
});

test('train --from the run --freeze-backbone on another folder: a new 2-class head; the backbone’s weights do not move', async () => {
  const out = join(tmp, 'frozen');
  const r = await cliAsync(
    ['train', '--dataset', 'folder', '--data', colours, '--from', run, '--freeze-backbone', '--epochs', '1'].concat([
      '--batch-size',
      '3',
      '--lr',
      '0.01',
      '--progress',
      'none',
      '--out',
      out,
    ]),
  );
  ok(r, 'train --freeze-backbone');
  const [a, b] = [loadSafetensorsFile(join(run, 'model.safetensors')), loadSafetensorsFile(join(out, 'model.safetensors'))];
  assert.deepEqual(b.get('fc.weight')!.dims, [2, 256]);
  let moved = 0;
  for (const [k, t] of b) {
    if (/running_|num_batches/.test(k) || /^(fc|AuxLogits)\./.test(k)) continue; // statistics follow the data; the heads train
    assert.deepEqual(t.data, a.get(k)!.data, `${k} is frozen`);
    moved++;
  }
  assert.ok(moved > 250, `${moved} backbone tensors compared`);
  assert.notDeepEqual(
    b.get('AuxLogits.conv0.conv.weight')!.data,
    a.get('AuxLogits.conv0.conv.weight')!.data,
    'the aux head trains with the classifier',
  );
});

test('predict --features avg_pool writes the 256-d (2048 × 0.125) features the library computes', async () => {
  const out = join(tmp, 'features.safetensors');
  ok(await cliAsync(['predict', colours, '--recursive', '--model', run, '--features', 'avg_pool', '--out', out]), 'predict --features');
  const t = loadSafetensorsFile(out).get('avg_pool')!;
  assert.deepEqual(t.dims, [6, 256]);
  const net = new Classifier(loadModelDir(run));
  const x = net.toInput(await decodeImageFile(join(colours, 'blue', '0.jpg')));
  const ours = await net.model.features(x); // x: 1×3×299×299
  assert.ok(relativeError(ours.data, (t.data as Float32Array).subarray(0, 256)) <= 1e-6);
  await net.model.dispose();
});

test('quantize the Inception v3 run to int8 (calibrated on its folder); the int8 model predicts near fp32', async () => {
  const int8 = join(tmp, 'int8');
  ok(await cliAsync(['quantize', '--model', run, '--calibrate', 'folder', '--data', animals, '--samples', '9', '-o', int8]), 'quantize');
  const cfg = JSON.parse(readFileSync(join(int8, 'config.json'), 'utf8')) as { dtype: string; model: { arch: string; auxLogits: boolean } };
  assert.deepEqual([cfg.dtype, cfg.model.arch, cfg.model.auxLogits], ['int8', 'inception_v3', false]);
  const [fp, q] = await Promise.all(
    [run, int8].map((m) =>
      cliAsync([
        'predict',
        animals,
        '--recursive',
        '--model',
        m,
        '--logits',
        '--out',
        join(m, '..', `${m.endsWith('int8') ? 'q' : 'fp'}.jsonl`),
      ]),
    ),
  );
  ok(fp!, 'predict fp32');
  ok(q!, 'predict int8');
  const lines = (f: string): { logits: number[] }[] =>
    readFileSync(join(tmp, f), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { logits: number[] });
  const [a, b] = [lines('fp.jsonl').flatMap((l) => l.logits), lines('q.jsonl').flatMap((l) => l.logits)];
  const e = relativeError(b, a);
  assert.ok(e > 0 && e < 0.2, `int8 logits relative error ${e}`);
});

test('serve the Inception v3 run: a picture over HTTP gets its classes', async () => {
  let url: (u: string) => void = () => undefined;
  const listening = new Promise<string>((r) => (url = r));
  let kill: (s: NodeJS.Signals) => void = () => undefined;
  const server = cliAsync(['serve', '--model', run, '--port', '0', '--name', 'v3'], (text, k) => {
    kill = k;
    const m = /listening on (http:\/\/\S+)/.exec(text);
    if (m) url(m[1]!);
  });
  const base = await Promise.race([listening, server.then((r) => assert.fail(`serve exited early:\n${r.stderr}`))]);
  const body = new Uint8Array(readFileSync(join(animals, 'fox', '0.png')));
  const r = await fetch(`${base}/v1/classify?top_k=3`, { method: 'POST', headers: { 'content-type': 'image/png' }, body });
  assert.equal(r.status, 200);
  const j = (await r.json()) as { model: string; top: { label: string }[] };
  assert.equal(j.model, 'v3');
  assert.deepEqual(j.top.map((t) => t.label).sort(), ['cat', 'dog', 'fox']);
  kill('SIGTERM');
  assert.equal((await server).status, 0);
});

test('explain the Inception v3 run: Grad-CAM at Mixed_7c by default, and InceptionE’s six parallel branches of Mixed_7b', async () => {
  const r = await cliAsync(['explain', '--model', run, join(animals, 'cat', '0.png'), '--branches', 'Mixed_7b', '--json']);
  ok(r, 'explain');
  const [e] = JSON.parse(r.stdout) as { layer: string; cam: number[][]; branches: { branches: { name: string; share: number }[] } }[];
  assert.equal(e!.layer, 'Mixed_7c');
  assert.deepEqual([e!.cam.length, e!.cam[0]!.length], [8, 8]);
  const names = e!.branches.branches.map((b) => b.name);
  assert.deepEqual(names, ['branch1x1', 'branch3x3_2a', 'branch3x3_2b', 'branch3x3dbl_3a', 'branch3x3dbl_3b', 'branch_pool']);
  assert.ok(Math.abs(e!.branches.branches.reduce((s, b) => s + b.share, 0) - 1) < 1e-6);
});

test('queue workers run an Inception v3 model: collected results equal a single-process predict', async (t) => {
  if (spawnSync('redis-server', ['--version']).status !== 0) return t.skip('needs redis-server (Debian: redis-server)');
  const port = await new Promise<number>((r) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => r(p));
    });
  });
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  let worker: ChildProcess | undefined;
  try {
    for (let i = 0; i < 50 && !spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.includes('PONG'); i++)
      await new Promise((r) => setTimeout(r, 100));
    const redisUrl = `redis://127.0.0.1:${port}`;
    const results = join(tmp, 'queue');
    ok(
      await cliAsync([
        'queue',
        'submit',
        animals,
        '--recursive',
        '--redis',
        redisUrl,
        '--name',
        'v3',
        '--out-dir',
        results,
        '--shard-size',
        '6',
      ]),
      'submit',
    );
    worker = spawn(process.execPath, ['--import', 'tsx', MAIN, 'worker', '--redis', redisUrl, '--model', run, '--out-dir', results], {
      cwd: REPO,
    });
    const single = cliAsync(['predict', animals, '--recursive', '--model', run, '--logits', '--out', join(tmp, 'single.jsonl')]);
    let done = false;
    for (let i = 0; i < 240 && !done; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const s = JSON.parse((await cliAsync(['queue', 'status', 'v3', '--redis', redisUrl])).stdout || '{}') as {
        counts?: Record<string, number>;
      };
      done = s.counts?.['completed'] === 2;
    }
    assert.ok(done, 'both shards completed');
    const merged = join(tmp, 'merged.jsonl');
    ok(await cliAsync(['queue', 'collect', 'v3', '--redis', redisUrl, '--out', merged]), 'collect');
    ok(await single, 'predict');
    const read = (f: string): { file: string; logits: number[] }[] =>
      readFileSync(f, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { file: string; logits: number[] });
    const [got, want] = [read(merged), read(join(tmp, 'single.jsonl'))];
    assert.deepEqual(
      got.map((l) => l.file),
      want.map((l) => l.file),
    );
    assert.ok(
      relativeError(
        got.flatMap((l) => l.logits),
        want.flatMap((l) => l.logits),
      ) <= 1e-6,
    );
  } finally {
    // The worker closes its Redis connections on SIGTERM: Redis must outlive that close, or the
    // worker waits for it forever (and so does this test). A worker that has not exited in 10 s is killed.
    if (worker && worker.exitCode === null && worker.signalCode === null) {
      const exited = new Promise((r) => worker!.once('exit', r));
      worker.kill('SIGTERM');
      const timer = setTimeout(() => worker!.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    redis.kill('SIGKILL');
  }
});

test('eval an Inception v3 on ImageNet WordNet-id folders: the labels follow torchvision’s 1000-class order', async () => {
  const dir = join(tmp, 'imagenet-v3');
  saveModelDir(new GoogLeNet({ arch: 'inception_v3', width: 0.125, inputSize: 75 }, { seed: 1 }), dir);
  const val = join(tmp, 'ILSVRC2012', 'val');
  await pictures(val, ['n01440764', 'n15075141'], 1, [80, 70], 'png');
  const r = await cliAsync(['eval', '--model', dir, '--dataset', 'folder', '--val-data', val, '--data', val, '--no-files', '--json']);
  ok(r, 'eval');
  assert.match(r.stderr, /ImageNet folders: 2 WordNet-id classes mapped to torchvision's 1000-class order/);
  const m = JSON.parse(r.stdout) as { n: number; confusion: number[][] };
  assert.equal(m.n, 2);
  assert.equal(m.confusion.length, 1000);
  assert.deepEqual(
    [0, 999].map((c) => m.confusion[c]!.reduce((a, b) => a + b, 0)),
    [1, 1],
  );
});

test('eval --weights FILE --arch inception_v3: a torchvision .pth evaluated as Inception v3; --preset is refused with it', async (t) => {
  const pth = fixturePath('inception-v3-tv-aux10.pth', 'torchvision-inception-v3');
  if (!pth) return t.skip('needs the Inception v3 fixtures (python3 scripts/make-fixtures.py)');
  const ten = join(tmp, 'ten');
  await pictures(ten, [...'abcdefghij'], 1, [40, 30], 'png');
  const args = ['eval', '--weights', pth, '--arch', 'inception_v3', '--num-classes', '10', '--dataset', 'folder', '--data', ten];
  const [r, refused] = await Promise.all([
    cliAsync([...args, '--val-data', ten, '--no-files', '--json']),
    cliAsync([...args, '--preset', 'bn']),
  ]);
  ok(r, 'eval --weights --arch inception_v3');
  const m = JSON.parse(r.stdout) as { n: number; confusion: number[][] };
  assert.deepEqual([m.n, m.confusion.length], [10, 10]);
  assert.equal(refused.status, 1);
  assert.equal(refused.stderr, `googlenet: --preset: presets are GoogLeNet's; --arch inception_v3 takes none (received "bn")\n`);
});

test("Keras' include_top=False: import --no-include-top --pooling avg; a model without its top writes its features", async () => {
  const pth = fixturePath('inception-v3-tv-aux10.pth', 'torchvision-inception-v3');
  if (pth) {
    // torchvision's shapes: the file's fc and AuxLogits are left out, 21,785,568 parameters remain.
    const dir = join(tmp, 'imported-headless');
    const r = await cliAsync(['import', pth, '--no-include-top', '--pooling', 'avg', '-o', dir]);
    ok(r, 'import --no-include-top');
    assert.match(r.stderr, /→ .*imported-headless \(21,785,568 parameters, inception_v3\)/);
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { labels: unknown; model: Record<string, unknown> };
    assert.deepEqual([cfg.labels, cfg.model['includeTop'], cfg.model['pooling']], [null, false, 'avg']);
  }
  // The narrow run without its top, global max pooling: the library's Keras options.
  const trained = loadModelDir(run);
  const headless = new GoogLeNet({ ...trained.config, includeTop: false, auxLogits: false, pooling: 'max' }, {}, new Map());
  headless.loadStateDict(trained.stateDict());
  assert.equal(
    headless.paramSpecs().some((p) => p.name.startsWith('fc.') || p.name.startsWith('AuxLogits.')),
    false,
  );
  const dir = join(tmp, 'headless');
  saveModelDir(headless, dir);
  const out = join(tmp, 'headless.safetensors');
  ok(
    await cliAsync(['predict', colours, '--recursive', '--model', dir, '--features', 'features', '--out', out]),
    'predict --features features',
  );
  assert.deepEqual(loadSafetensorsFile(out).get('features')!.dims, [6, 256]);
  const refused = await cliAsync(['predict', join(colours, 'red', '0.jpg'), '--model', dir]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /^googlenet: --features: this model has no classifier/);
  await Promise.all([trained.dispose(), headless.dispose()]);
});
