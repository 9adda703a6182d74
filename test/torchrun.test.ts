/**
 * The hand-off to PyTorch's distributed engine, for both networks: our weights exported under
 * torchvision's names (`googlenet export --format safetensors`), fine-tuned by
 * `scripts/torchrun-finetune.py` under `torchrun` on 2 CPU processes (gloo, Debian's torch), and
 * imported back (`googlenet import`). The logits are checked at each hop: torch's of the exported
 * weights against ours before training, and ours of the imported result against torch's after it.
 * Small inputs (64×64 GoogLeNet, 75×75 Inception v3: what the hand-off carries does not depend on
 * the size) and one short epoch keep it to seconds.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import '../src/runtime/engine-node.js';
import { GoogLeNet } from '../src/models/model.js';
import type { ModelOptions } from '../src/models/config.js';
import { Rng } from '../src/rng.js';
import { relativeError } from '../src/tensor.js';
import { loadModelDir, saveModelDir } from '../src/weights/model-dir-node.js';
import { loadSafetensorsFile, saveSafetensorsFile } from '../src/weights/safetensors-node.js';
import { cliAsync, REPO, type Run } from './cli-run.js';

const TORCHRUN = '/usr/bin/torchrun';
const skip = spawnSync(TORCHRUN, ['--help'], { encoding: 'utf8' }).status === 0 ? false : `needs ${TORCHRUN} (Debian: python3-torch)`;
let tmp: string;
let folder: string;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'googlenet-torchrun-'));
  folder = join(tmp, 'pictures');
  for (const [c, name] of ['a', 'b', 'c'].entries()) {
    mkdirSync(join(folder, name), { recursive: true });
    for (let i = 0; i < 4; i++) {
      const px = Buffer.alloc(96 * 80 * 3).map((_, k) => (k % 3 === c ? 170 : 50) + ((k * (3 + i)) % 70));
      await sharp(px, { raw: { width: 96, height: 80, channels: 3 } })
        .png()
        .toFile(join(folder, name, `${i}.png`));
    }
  }
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Weights that keep activations at unit scale (He-normal convolutions, batch norms off identity), so that logits say something. */
function scaledModel(options: ModelOptions, seed: number): GoogLeNet {
  const m = new GoogLeNet(options, { seed });
  const rng = new Rng(seed + 1);
  for (const p of m.paramSpecs()) {
    const w = m.weights.get(p.name);
    if (!(w instanceof Float32Array)) continue;
    const fanIn = p.shape.slice(1).reduce((a, b) => a * b, 1);
    for (let i = 0; i < w.length; i++) {
      if (p.role === 'conv.weight') w[i] = rng.normal() * Math.sqrt(2 / fanIn);
      else if (p.role === 'linear.weight') w[i] = rng.normal() * Math.sqrt(1 / fanIn);
      else if (p.role === 'bn.weight' || p.role === 'bn.running_var') w[i] = 0.5 + rng.float();
      else w[i] = rng.normal() * 0.1;
    }
  }
  m.invalidate();
  return m;
}

function torchrun(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    // --redirects/--tee: see the script's docstring (torchrun's default fails on Debian's torch 1.13 with Python 3.11).
    const launcher = ['--standalone', '--nproc_per_node', '2', '--redirects', '0:1', '--tee', '0:1'];
    const child = spawn(TORCHRUN, [...launcher, join(REPO, 'scripts', 'torchrun-finetune.py'), ...args], {
      cwd: REPO,
      env: { ...process.env, OMP_NUM_THREADS: '1' },
      // A hung process group fails the test (status null) instead of holding CI until its limit.
      timeout: 300_000,
    });
    let [stdout, stderr] = ['', ''];
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

for (const [arch, options, size] of [
  ['googlenet', { preset: 'torchvision', numClasses: 3, inputSize: 64 }, 64],
  ['inception_v3', { arch: 'inception_v3', numClasses: 3, inputSize: 75, transformInput: true }, 75],
] as const) {
  test(`${arch}: export → torchrun on 2 processes (gloo) → import, logits equal at each hop`, { skip }, async (t) => {
    const dir = join(tmp, arch);
    const model = scaledModel(options, 5);
    saveModelDir(model, join(dir, 'ours'));
    const rng = new Rng(9);
    const probe = { dims: [2, 3, size, size], data: Float32Array.from({ length: 2 * 3 * size * size }, () => rng.normal()) };
    saveSafetensorsFile(join(dir, 'probe.safetensors'), { input: { dtype: 'F32', dims: probe.dims, data: probe.data } });
    const ours = (await model.forward(probe)).logits.data;
    await model.dispose();

    // Hop 1: our weights under torchvision's names.
    const exported = join(dir, 'exported.safetensors');
    const ex = await cliAsync(['export', '--model', join(dir, 'ours'), '--format', 'safetensors', '-o', exported]);
    assert.equal(ex.status, 0, ex.stderr);
    // Hop 2: torchrun fine-tunes them.
    const tuned = join(dir, 'tuned.safetensors');
    const probeOut = join(dir, 'probe-logits.safetensors');
    const args = ['--arch', arch, '--weights', exported, '--data', folder, '--input-size', String(size), '--batch-size', '2'];
    args.push('--lr', '0.05', '--out', tuned, '--probe', join(dir, 'probe.safetensors'), '--probe-out', probeOut);
    if (arch === 'inception_v3') args.push('--transform-input');
    const tr = await torchrun(args);
    assert.equal(tr.status, 0, tr.stderr);
    assert.match(tr.stdout, /wrote .*tuned\.safetensors: 3 steps on 2 processes \(gloo\)/);
    const logits = loadSafetensorsFile(probeOut);
    const eBefore = relativeError(ours, logits.get('before')!.data as Float32Array);
    assert.ok(eBefore <= 1e-4, `torch's logits of the exported weights: relative error ${eBefore}`);
    // Hop 3: the fine-tuned weights back into googlenet-ts.
    const back = join(dir, 'back');
    const imp = await cliAsync(
      ['import', tuned, '--num-classes', '3', '--input-size', String(size)].concat(arch === 'inception_v3' ? ['--transform-input'] : [], [
        '-o',
        back,
      ]),
    );
    assert.equal(imp.status, 0, imp.stderr);
    const m = loadModelDir(back);
    assert.equal(m.config.arch, arch, 'the file’s keys say its architecture');
    const after = (await m.forward(probe)).logits.data;
    const eAfter = relativeError(after, logits.get('after')!.data as Float32Array);
    assert.ok(eAfter <= 1e-4, `our logits of the fine-tuned weights against torch's: relative error ${eAfter}`);
    assert.ok(relativeError(after, ours) > 1e-3, 'training changed the network');
    t.diagnostic(`${arch}: torch vs ours before ${eBefore.toExponential(2)}, after ${eAfter.toExponential(2)}`);
    assert.equal(
      (m.weights.get(arch === 'googlenet' ? 'conv1.bn.num_batches_tracked' : 'Conv2d_1a_3x3.bn.num_batches_tracked') as BigInt64Array)[0],
      3n,
    );
    await m.dispose();
  });
}
