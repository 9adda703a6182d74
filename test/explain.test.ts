/**
 * Grad-CAM against PyTorch: torchvision's GoogLeNet (the fixture model, its file's weights) on the
 * fixture picture, with forward hooks and `torch.autograd.grad` in float64
 * (`scripts/make-fixtures.py`, `gradcam-aux10.safetensors`): the last feature map for the top
 * class, an earlier tap for a given class, and the first auxiliary head at its own tap, within 1e-3
 * relative, through the library and through `googlenet explain`. Then the command's overlays and
 * its one-line errors. (WebGPU: test/device.test.ts; the page: test/web/explain.test.ts.)
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { decodeImageFile, GoogLeNet, load, loadStateDict, saveModelDir, type Tensor } from '../src/index.js';
import { relativeError } from '../src/tensor.js';
import { loadSafetensorsFile } from '../src/weights/safetensors-node.js';
import { cliAsync, type Run } from './cli-run.js';
import { fixturePath, missingFixture } from './fixtures.js';

const TOL = 1e-3;
const NAMES = ['googlenet-tv-aux10.safetensors', 'gradcam-aux10.safetensors', 'io-image.safetensors', 'image-224.png'];
const paths = NAMES.map((n) => fixturePath(n));
const missing = NAMES.filter((_, i) => !paths[i]);
const skip = missing.length ? missingFixture(missing.join(', ')) : false;
const [weights, camFile, ioFile, png] = paths as string[];

/** The PyTorch reference values, float64 as drawn, by key (`inception5b.cam`, `aux1.inception4a.class`, …). */
function reference(): Map<string, Float64Array | BigInt64Array> {
  const out = new Map<string, Float64Array | BigInt64Array>();
  for (const [k, v] of loadSafetensorsFile(camFile!)) out.set(k, v.data as Float64Array | BigInt64Array);
  return out;
}

function fixtureModel(): GoogLeNet {
  const m = new GoogLeNet({ preset: 'torchvision', numClasses: 10, auxLogits: true }, {}, new Map());
  m.loadStateDict(loadStateDict(weights!), weights!);
  return m;
}

/** [key in the fixture, what the library is asked]. */
const CASES = [
  ['inception5b', {}],
  ['inception4c.class3', { layer: 'inception4c', classIndex: 3 }],
  ['aux1.inception4a', { head: 'aux1' }],
  ['plusplus.inception4c.class3', { layer: 'inception4c', classIndex: 3, method: 'gradcam++' }],
] as const;

describe('Grad-CAM equals PyTorch (hooks + torch.autograd.grad) on torchvision GoogLeNet', { skip }, () => {
  it('library: the map, the channel weights, the class and the heads, at three targets', async () => {
    const ref = reference();
    const m = fixtureModel();
    const io = loadSafetensorsFile(ioFile!).get('image_input')!;
    const x: Tensor = { dims: [...io.dims], data: io.data as Float32Array };
    for (const [key, options] of CASES) {
      const r = await m.gradCam(x, options);
      const cam = ref.get(`${key}.cam`)!;
      assert.equal(r.cam.data.length, cam.length, key);
      assert.ok(
        cam.some((v) => Number(v) > 0),
        `${key}: the reference map is not empty`,
      );
      const e = relativeError(r.cam.data, cam as Float64Array);
      const a = relativeError(r.alpha.data, ref.get(`${key}.alpha`) as Float64Array);
      console.log(`${key}: map ${r.cam.dims.slice(1).join('×')} relative error ${e.toExponential(2)}, α ${a.toExponential(2)}`);
      assert.ok(e <= TOL, `${key}: map relative error ${e}`);
      assert.ok(a <= TOL, `${key}: α relative error ${a}`);
      assert.equal(r.classIndex[0], Number((ref.get(`${key}.class`) as BigInt64Array)[0]), key);
      const head = r.heads[r.head]!.data;
      assert.ok(relativeError(head, ref.get(`${key}.logits`) as Float64Array) <= 1e-4, `${key}: logits of ${r.head}`);
      // Every head from the same pass, the auxiliary classifiers in eval mode as torchvision's modules compute them.
      assert.ok(relativeError(r.heads.aux2!.data, ref.get('aux2.logits') as Float64Array) <= 1e-4, `${key}: aux2 logits`);
    }
    const plain = ref.get('inception4c.class3.cam') as Float64Array;
    assert.ok(relativeError(ref.get('plusplus.inception4c.class3.cam') as Float64Array, plain) > 0.05, 'Grad-CAM++ is another map');
    await m.dispose();
  });
});

describe('googlenet explain and net.explain() on files', () => {
  let tmp: string;
  let small: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'googlenet-explain-cli-'));
    // A CIFAR-stem model: no conv2, conv3, maxpool1 or maxpool2 taps, no auxiliary heads.
    small = join(tmp, 'small');
    saveModelDir(new GoogLeNet({ preset: 'cifar', width: 0.125, numClasses: 10, inputSize: 32 }, { seed: 2 }), small);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  const fixtureFlags = (): string[] => ['--weights', weights!, '--num-classes', '10', '--aux', '--resize', '224', '--crop', '224'];

  it('--json prints the raw map of PyTorch and the branches; -o writes the overlay PNG with its caption', { skip }, async () => {
    const out = join(tmp, 'cam.png');
    const r = await cliAsync([
      'explain',
      ...fixtureFlags(),
      '--layer',
      'inception4c',
      '--class',
      '3',
      '--branches',
      'inception4a',
      '--json',
      '-o',
      out,
      png!,
    ]);
    assert.equal(r.status, 0, r.stderr);
    type Branch = { name: string; channels: number; share: number; map: number[][] };
    const [e] = JSON.parse(r.stdout) as {
      file: string;
      class: number;
      label: string;
      layer: string;
      cam: number[][];
      overlay: string;
      branches: { module: string; branches: Branch[] };
    }[];
    // inception4a of Table 1: 192 + 208 + 48 + 64 channels, each branch's mean map at 14×14.
    assert.equal(e!.branches.module, 'inception4a');
    assert.deepEqual(
      e!.branches.branches.map((b) => [b.name, b.channels, b.map.length, b.map[0]!.length]),
      [
        ['branch1', 192, 14, 14],
        ['branch2', 208, 14, 14],
        ['branch3', 48, 14, 14],
        ['branch4', 64, 14, 14],
      ],
    );
    assert.ok(Math.abs(e!.branches.branches.reduce((a, b) => a + b.share, 0) - 1) < 1e-9);
    assert.equal(e!.file, png);
    assert.equal(e!.class, 3);
    assert.equal(e!.label, '3');
    assert.equal(e!.layer, 'inception4c');
    assert.equal(e!.cam.length, 14);
    assert.ok(relativeError(e!.cam.flat(), reference().get('inception4c.class3.cam') as Float64Array) <= TOL);
    assert.equal(e!.overlay, out);
    const meta = await sharp(readFileSync(out)).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, 224, 'the 224×224 region the model saw');
    assert.ok(meta.height! > 224, 'a caption strip under the picture');
  });

  it('net.explain(path) decodes the file: the same as explaining its decoded picture; branch shares sum to 1', async () => {
    const pic = join(tmp, 'colour.png');
    const rgb = Buffer.alloc(50 * 40 * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37) % 251;
    await sharp(rgb, { raw: { width: 50, height: 40, channels: 3 } })
      .png()
      .toFile(pic);
    const net = await load(small);
    const [fromPath] = await net.explain(pic, { branches: 'inception4a' });
    const [fromImage] = await net.explain(await decodeImageFile(pic), { branches: 'inception4a' });
    assert.deepEqual([fromPath!.layer, fromPath!.cam.width, fromPath!.cam.height], ['inception5b', 8, 8]);
    assert.deepEqual(Object.keys(fromPath!.heads), ['logits']);
    assert.deepEqual([...fromPath!.cam.data], [...fromImage!.cam.data]);
    const shares = fromPath!.branches!.branches.map((b) => b.share);
    assert.equal(shares.length, 4);
    assert.ok(Math.abs(shares.reduce((a, b) => a + b, 0) - 1) < 1e-9);
    await net.dispose();
  });

  /** Exit 1, nothing on stdout, one line on stderr that matches `message`. */
  function oneLine(r: Run, message: RegExp): void {
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.split('\n').length, 2, `one line expected, got:\n${r.stderr}`);
    assert.match(r.stderr, message);
  }

  it('bad requests end in one line naming the flag, and write nothing', async () => {
    const pic = join(tmp, 'p.png');
    await sharp(Buffer.alloc(40 * 30 * 3, 90), { raw: { width: 40, height: 30, channels: 3 } })
      .png()
      .toFile(pic);
    const outDir = join(tmp, 'none');
    const runs = await Promise.all([
      cliAsync(['explain', '--model', small, '--layer', 'conv3', '-o', outDir, pic]),
      cliAsync(['explain', '--model', small, '--class', '10', '-o', outDir, pic]),
      cliAsync(['explain', '--model', small, '--head', 'aux1', '--json', pic]),
      cliAsync(['explain', '--model', small, '--branches', 'conv1', '--json', pic]),
      cliAsync(['explain', '--model', small, '-o', join(tmp, 'x.png'), pic, pic]),
    ]);
    // A model without that tap (a CIFAR stem has no conv3), a class out of range, a head it lacks, a tap that is no module.
    oneLine(
      runs[0]!,
      /^googlenet: --layer: unknown tap "conv3"; Grad-CAM of head logits takes one of: conv1, inception3a, .*inception5b$/m,
    );
    oneLine(runs[1]!, /^googlenet: --class: expected an integer in \[0, 9\] \(head logits has 10 classes\), received number 10$/m);
    oneLine(
      runs[2]!,
      /^googlenet: --head: unknown head "aux1"; this model's heads: logits \(auxiliary heads exist in models built with auxLogits\)$/m,
    );
    oneLine(runs[3]!, /^googlenet: --branches: conv1 is not a module of parallel branches/);
    oneLine(runs[4]!, /^googlenet: -o .*x\.png: one PNG file for 2 images; give a folder$/m);
    assert.ok(!existsSync(outDir) || !existsSync(join(outDir, 'p.gradcam.png')), 'no overlay written');
  });
});
