/**
 * Inception v3's named weights (`inception_v3`, torchvision's `Inception_V3_Weights.IMAGENET1K_V1`)
 * against a local HTTP server on 127.0.0.1 (no internet here), with a file in the real format: a
 * `torch.save` of torchvision's `inception_v3` state dict (1000 classes, the aux head included,
 * random weights). Through the mirror the file goes by its official name, is checked against the
 * official hash prefix 0cc3c7bd (which random weights cannot have: refused and deleted); from the
 * cache, `predict --weights Inception_V3_Weights.IMAGENET1K_V1` builds the entry's model
 * (transform_input, 1000 ImageNet classes) with its preprocessing (resize 342 bilinear, centre crop
 * 299, ImageNet mean/std) and gives the logits of torchvision's own pipeline,
 * `Inception_V3_Weights.IMAGENET1K_V1.transforms()` on a PIL image; `train --from inception_v3
 * --freeze-backbone` puts a new head on the file's backbone, as the README's tutorial path does.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { relativeError } from '../src/tensor.js';
import { loadStateDict } from '../src/weights/formats-node.js';
import { loadSafetensorsFile } from '../src/weights/safetensors-node.js';
import { cliAsync, type Run } from './cli-run.js';

const OFFICIAL = 'inception_v3_google-0cc3c7bd.pth';
let tmp: string;
let file: string;
let image: string;
let reference: number[];
let server: { url: string; paths: string[]; close(): Promise<void> } | undefined;
let skip: string | undefined;

/** torch.save of a random 1000-class inception_v3 with its aux head, and torchvision's logits for the picture through the weights' own transforms. */
const PY = `
import json, sys, torch
from PIL import Image
from torchvision.models import inception_v3, Inception_V3_Weights
torch.manual_seed(0)
m = inception_v3(weights=None, aux_logits=True, init_weights=False)
torch.save(m.state_dict(), sys.argv[1])
m.transform_input = True
x = Inception_V3_Weights.IMAGENET1K_V1.transforms()(Image.open(sys.argv[2]).convert('RGB'))[None]
with torch.no_grad():
    print(json.dumps(m.eval()(x)[0].tolist()))
`;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'weights-hub-v3-'));
  file = join(tmp, 'v3.pth');
  image = join(tmp, 'picture.png');
  const px = Buffer.alloc(300 * 260 * 3).map((_, i) => (i * 7 + (i >> 9)) & 255);
  await sharp(px, { raw: { width: 300, height: 260, channels: 3 } })
    .png()
    .toFile(image);
  const py = spawnSync('/usr/bin/python3', ['-c', PY, file, image], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (py.status !== 0) {
    skip = `needs python3-torch and python3-torchvision: ${(py.stderr || py.error?.message || '').split('\n').slice(-2).join(' ')}`;
    return;
  }
  reference = JSON.parse(py.stdout) as number[];
  const bytes = readFileSync(file);
  const paths: string[] = [];
  const srv: Server = createServer((req, res) => {
    paths.push(req.url ?? '');
    if (req.url !== `/files/${OFFICIAL}`) return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Length': bytes.length }).end(bytes);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  server = { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, paths, close: () => new Promise((r) => srv.close(() => r())) };
});

after(async () => {
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

function oneLine(r: Run, message: RegExp): void {
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, message);
}

test('weights download inception_v3 goes through the mirror by its official name and checks the official hash prefix', async (t) => {
  if (skip || !server) return t.skip(skip);
  const cache = join(tmp, 'cache-mirror');
  const r = await cliAsync(['weights', 'download', 'inception_v3'], undefined, {
    GOOGLENET_HOME: cache,
    GOOGLENET_WEIGHTS_MIRROR: `${server.url}/files/`,
  });
  const sha = createHash('sha256').update(readFileSync(file)).digest('hex');
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    new RegExp(
      `^googlenet: ${OFFICIAL}: SHA-256 mismatch: expected 0cc3c7bd…, received ${sha} \\(from ${server.url}/files/${OFFICIAL}\\); the downloaded file was deleted$`,
      'm',
    ),
  );
  assert.deepEqual(server.paths, [`/files/${OFFICIAL}`]);
  assert.deepEqual(readdirSync(cache), [], 'nothing is left in the cache');
});

test('from the cache, predict --weights Inception_V3_Weights.IMAGENET1K_V1 gives torchvision’s logits through the entry’s preprocessing', async (t) => {
  if (skip) return t.skip(skip);
  const cache = join(tmp, 'cache-hit');
  mkdirSync(cache);
  copyFileSync(file, join(cache, OFFICIAL));
  const env = { GOOGLENET_HOME: cache };
  const [r, list, wrongArch] = await Promise.all([
    cliAsync(['predict', '--weights', 'Inception_V3_Weights.IMAGENET1K_V1', '--json', '--logits', '--top-k', '3', image], undefined, env),
    cliAsync(['weights', 'list', '--json'], undefined, env),
    cliAsync(['predict', '--weights', 'imagenet', '--arch', 'inception_v3', image], undefined, env),
  ]);
  assert.equal(r.status, 0, r.stderr);
  const out = (JSON.parse(r.stdout) as { logits: number[]; top: { label: string; index: number }[] }[])[0]!;
  assert.equal(out.logits.length, 1000);
  const err = relativeError(out.logits, reference);
  assert.ok(err <= 1e-4, `logits relative error ${err} against torchvision's transforms() and model`);
  t.diagnostic(`relative error against torchvision: ${err.toExponential(2)}`);
  assert.equal(out.top.length, 3);
  const classes = JSON.parse(readFileSync(join('assets', 'imagenet-classes.json'), 'utf8')) as string[];
  for (const p of out.top) assert.equal(p.label, classes[p.index], 'the ImageNet labels');
  const rows = JSON.parse(list.stdout) as { name: string; cached: boolean; params: number; gmacs: number; metrics: { acc1: number } }[];
  const v3 = rows.find((e) => e.name === 'inception_v3')!;
  assert.deepEqual([v3.cached, v3.params, v3.gmacs, v3.metrics.acc1], [true, 23_834_568, 5.71, 77.294]);
  oneLine(
    wrongArch,
    /^googlenet: --weights imagenet: these are googlenet weights, not inception_v3; inception_v3's are --weights inception_v3$/m,
  );
});

test('train --from inception_v3 --freeze-backbone on a folder: the named weights under a new head, with their preprocessing', async (t) => {
  if (skip) return t.skip(skip);
  const cache = join(tmp, 'cache-train');
  mkdirSync(cache);
  copyFileSync(file, join(cache, OFFICIAL));
  const photos = join(tmp, 'photos');
  for (const [c, name] of ['blue', 'red'].entries()) {
    mkdirSync(join(photos, name), { recursive: true });
    for (let i = 0; i < 3; i++) {
      const px = Buffer.alloc(90 * 80 * 3).map((_, k) => (k % 3 === 2 - 2 * c ? 180 : 30) + ((k * (5 + i)) % 60));
      await sharp(px, { raw: { width: 90, height: 80, channels: 3 } })
        .jpeg()
        .toFile(join(photos, name, `${i}.jpg`));
    }
  }
  const out = join(tmp, 'v3-photos');
  const r = await cliAsync(
    ['train', '--dataset', 'folder', '--data', photos, '--from', 'inception_v3', '--freeze-backbone', '--epochs', '1'].concat([
      '--batch-size',
      '2',
      '--val-holdout',
      '2',
      '--progress',
      'none',
      '--out',
      out,
    ]),
    undefined,
    { GOOGLENET_HOME: cache },
  );
  assert.equal(r.status, 0, r.stderr);
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as {
    model: Record<string, unknown>;
    preprocess: unknown;
    labels: string[];
  };
  assert.deepEqual(
    [cfg.model['arch'], cfg.model['numClasses'], cfg.model['transformInput'], cfg.labels],
    ['inception_v3', 2, true, ['blue', 'red']],
  );
  assert.deepEqual(cfg.preprocess, { resize: 342, crop: 299, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
  // The backbone's weights are the file's; the new head is 2 classes wide. (Batch norms keep
  // updating their running statistics on the new pictures, as PyTorch's requires_grad=False does.)
  const [before, after] = [loadStateDict(file), loadSafetensorsFile(join(out, 'model.safetensors'))];
  assert.deepEqual(after.get('fc.weight')!.dims, [2, 2048]);
  let frozen = 0;
  for (const [k, v] of after) {
    if (/^fc\.|running_|num_batches/.test(k)) continue;
    assert.deepEqual(v.data, before.get(k)!.data, `${k} is frozen`);
    frozen++;
  }
  assert.equal(frozen, 282, 'every convolution and batch-norm weight of the backbone');
  assert.ok(![...after.keys()].some((k) => k.startsWith('AuxLogits.')), 'the entry runs without the aux head');
});
