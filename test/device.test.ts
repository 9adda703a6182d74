// Devices in Node: WebGPU (on the software adapter scripts/run-tests.mjs points Vulkan at:
// SwiftShader from Debian's chromium) against the CPU provider, the NHWC guard, and the errors of
// devices that are not there. The software adapter takes seconds per forward: few, small cases.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import {
  BackendError,
  createTrainStep,
  data,
  GoogLeNet,
  load,
  loadModel,
  loadStateDict,
  OptionError,
  selectDevice,
  type GoogLeNetOptions,
  type ModelOptions,
  type Tensor,
} from '../src/index.js';
import { relativeError } from '../src/tensor.js';
import { OnnxGraphBuilder } from '../src/graph/onnx.js';
import { loadSafetensorsFile } from '../src/weights/safetensors-node.js';
import { cli } from './cli-run.js';
import { fixturePath, missingFixture } from './fixtures.js';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
const FASHION = new URL('../models/fashion-mnist', import.meta.url).pathname;

/** Skips without an adapter, except in CI where chromium (SwiftShader) is installed: there these must run. */
async function webgpuSkip(): Promise<string | false> {
  try {
    await selectDevice('webgpu');
    return false;
  } catch (e) {
    const why = (e as Error).message;
    if (process.env.CI && existsSync(SWIFTSHADER)) throw new Error(`CI has SwiftShader (${SWIFTSHADER}) but no WebGPU adapter: ${why}`);
    return `no WebGPU adapter (${why}); install Debian's chromium (SwiftShader) and run through scripts/run-tests.mjs, which sets VK_ICD_FILENAMES`;
  }
}
const skip = await webgpuSkip();

/** max |a − b| / max |b|: errors relative to the largest logit. */
function relMax(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

function randomInput(dims: number[], seed: number): Tensor {
  const rng = new data.Rng(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return { dims, data: Float32Array.from({ length: n }, () => rng.normal()) };
}

describe('WebGPU in Node (software adapter in CI)', () => {
  it('the shipped Fashion-MNIST model gives the CPU logits on WebGPU (≤ 1e-4 relative)', { skip }, async () => {
    const test = await data.openDataset({ name: 'fashion-mnist-subset', split: 'test' });
    const images = await Promise.all(Array.from({ length: 8 }, async (_, i) => (await test.get(i)).image));
    const cpu = await load(FASHION);
    const gpu = await load(FASHION, { device: 'webgpu' });
    assert.equal(gpu.model.engine.device, 'webgpu');
    const [a, b] = [await cpu.logits(images), await gpu.logits(images)];
    const e = relMax(b.data, a.data);
    assert.ok(e <= 1e-4, `relative error ${e.toExponential(2)}`);
    await Promise.all([cpu.dispose(), gpu.dispose()]);
  });

  it('a torchvision-preset model (ceil-mode pools, every module) gives the CPU logits on WebGPU', { skip }, async () => {
    const opts: GoogLeNetOptions = { preset: 'torchvision', numClasses: 10, inputSize: 96 };
    const cpu = new GoogLeNet(opts, { seed: 3 });
    const gpu = new GoogLeNet(opts, { seed: 3, device: 'webgpu' });
    const x = randomInput([2, 3, 96, 96], 5);
    const e = relMax((await gpu.forward(x)).logits.data, (await cpu.forward(x)).logits.data);
    assert.ok(e <= 1e-4, `relative error ${e.toExponential(2)}`);
    await Promise.all([cpu.dispose(), gpu.dispose()]);
  });

  it(
    'Inception v3 (narrow, 107×107: 1×7/7×1 convolutions, average pools, grid reductions) gives the CPU logits and gradients on WebGPU',
    { skip },
    async () => {
      const opts: ModelOptions = { arch: 'inception_v3', numClasses: 10, inputSize: 107, width: 0.125, transformInput: true, dropout: 0 };
      const cpu = new GoogLeNet(opts, { seed: 4 });
      const gpu = new GoogLeNet(opts, { seed: 4, device: 'webgpu' });
      const x = randomInput([2, 3, 107, 107], 6);
      const e = relMax((await gpu.forward(x)).logits.data, (await cpu.forward(x)).logits.data);
      assert.ok(e <= 1e-4, `logits: relative error ${e.toExponential(2)}`);
      const step = { optimizer: { type: 'sgd' as const, lr: 0.01 }, seed: 7 };
      const [sc, sg] = [createTrainStep(cpu, step), createTrainStep(gpu, step)];
      const [gc, gg] = [
        await sc.gradients(randomInput([4, 3, 107, 107], 8), [0, 3, 7, 9]),
        await sg.gradients(randomInput([4, 3, 107, 107], 8), [0, 3, 7, 9]),
      ];
      // The loss itself is within float32 noise of exact on both (measured against float64: the CPU
      // 9.1e-6, WebGPU 5.3e-6), so they are 1.4e-5 apart.
      assert.ok(Math.abs(gg.loss - gc.loss) / gc.loss <= 1e-4, `loss ${gg.loss} on WebGPU, ${gc.loss} on the CPU`);
      // No ReLU or max pool lies between the classifier and the loss: its gradients differ by the
      // features' own float32 noise (batch norms over few values in this narrow network: measured
      // 1.1e-4 of the largest entry; 1.0e-3 at 75×75). Below, a pre-activation within rounding of a ReLU's kink takes the other side on
      // one device (as between PyTorch's float32 and float64: see src/train/engine.test.ts), which
      // moves the gradients under it by up to ~1e-2 (measured against float64 at 107×107: the CPU
      // 2.2e-2, 1.0e-2 and 6.5e-5 for three inputs, WebGPU 2.2e-2, 1.1e-4 and 8.0e-3); so all of them
      // together are held to that noise, which a wrong operation (errors of order 1) far exceeds.
      for (const name of ['fc.weight', 'fc.bias']) {
        const ef = relMax(gg.grads.get(name)!, gc.grads.get(name)!);
        assert.ok(ef <= 1e-3, `gradient of ${name}: relative error ${ef.toExponential(2)}`);
      }
      let [diff, norm] = [0, 0];
      for (const [name, g] of gc.grads) {
        const w = gg.grads.get(name)!;
        for (let i = 0; i < g.length; i++) [diff, norm] = [diff + (w[i]! - g[i]!) ** 2, norm + g[i]! ** 2];
      }
      const eg = Math.sqrt(diff / norm);
      console.log(`Inception v3 gradients: ‖g(WebGPU) − g(CPU)‖ / ‖g(CPU)‖ = ${eg.toExponential(2)}`);
      assert.ok(eg <= 3e-2, `gradients: relative L2 error ${eg.toExponential(2)}`);
      await Promise.all([sc.dispose(), sg.dispose(), cpu.dispose(), gpu.dispose()]);
    },
  );

  it('training on WebGPU: the gradients of the CPU (≤ 1e-4 relative), and steps that follow it', { skip }, async () => {
    // Float32 with another summation order per convolution (GPU tiles vs the CPU's sgemm): one
    // backward pass agrees to ~2e-5 of each gradient's largest entry (measured 1.6e-5). Steps then
    // compound that through batch norm over a batch of 4 and momentum, so they are compared
    // looser: the loss to 1e-4 and the weights' updates to 5e-3 (relative L2 over all parameters).
    const opts: GoogLeNetOptions = { preset: 'cifar', width: 0.125, inChannels: 1, inputSize: 28, numClasses: 10, auxLogits: true };
    const cpu = new GoogLeNet(opts, { seed: 1 });
    const gpu = new GoogLeNet(opts, { seed: 1, device: 'webgpu' });
    const before = new Map([...cpu.weights].flatMap(([k, v]) => (v instanceof Float32Array ? [[k, Float32Array.from(v)] as const] : [])));
    const step = { optimizer: { type: 'sgd' as const, lr: 0.01, momentum: 0.9 }, seed: 7 };
    const [sc, sg] = [createTrainStep(cpu, step), createTrainStep(gpu, step)];
    const x0 = randomInput([4, 1, 28, 28], 10);
    const [gc, gg] = [await sc.gradients(x0, [0, 3, 7, 9]), await sg.gradients(x0, [0, 3, 7, 9])];
    assert.ok(Math.abs(gg.loss - gc.loss) / gc.loss <= 1e-5, `loss ${gg.loss} on WebGPU, ${gc.loss} on the CPU`);
    for (const [name, g] of gc.grads) {
      const e = relMax(gg.grads.get(name)!, g);
      assert.ok(e <= 1e-4, `gradient of ${name}: relative error ${e.toExponential(2)}`);
    }
    for (let t = 0; t < 2; t++) {
      const x = randomInput([4, 1, 28, 28], 10 + t);
      const y = [t, 3, 7, 9];
      const [rc, rg] = [await sc.step(x, y), await sg.step(x, y)];
      assert.ok(Math.abs(rg.loss - rc.loss) / rc.loss <= 1e-4, `step ${t}: loss ${rg.loss} on WebGPU, ${rc.loss} on the CPU`);
    }
    sc.syncWeights();
    sg.syncWeights();
    // The whole update vector (every parameter's change over the two steps), compared in L2: a
    // tensor whose update is a near-cancelling sum (a batch-norm bias: Σ dy over the batch) has
    // a tiny result and a large relative error on its own; in L2 it weighs what it moves.
    let [diff, norm] = [0, 0];
    for (const [name, w0] of before) {
      const [wc, wg] = [cpu.weights.get(name) as Float32Array, gpu.weights.get(name) as Float32Array];
      for (let i = 0; i < w0.length; i++) {
        const [uc, ug] = [wc[i]! - w0[i]!, wg[i]! - w0[i]!];
        diff += (ug - uc) ** 2;
        norm += uc ** 2;
      }
    }
    const e = Math.sqrt(diff / norm);
    console.log(`two steps: ‖Δw(WebGPU) − Δw(CPU)‖ / ‖Δw(CPU)‖ = ${e.toExponential(2)}`);
    // Measured: 1.4e-3, where the CPU against itself with another (exactly equivalent) convolution
    // gradient, `convGrad: { weightGrad: 'shift' }`, differs by 4e-4: float32 order, amplified alike.
    assert.ok(e <= 5e-3, `updates: relative L2 error ${e.toExponential(2)}`);
    await Promise.all([sc.dispose(), sg.dispose(), cpu.dispose(), gpu.dispose()]);
  });

  it('Grad-CAM on WebGPU equals PyTorch on torchvision GoogLeNet (≤ 1e-3 relative; max-pool gradients from masks)', { skip }, async (t) => {
    const names = ['googlenet-tv-aux10.safetensors', 'gradcam-aux10.safetensors', 'io-image.safetensors'];
    const files = names.map((n) => fixturePath(n));
    if (files.some((f) => !f)) return t.skip(missingFixture(names.join(', ')));
    const [weights, camFile, ioFile] = files as string[];
    // The fixture picture's central 96×96 (224×224 takes minutes on the software adapter).
    const m = new GoogLeNet({ preset: 'torchvision', numClasses: 10, auxLogits: true, inputSize: 96 }, { device: 'webgpu' }, new Map());
    m.loadStateDict(loadStateDict(weights!), weights!);
    const full = loadSafetensorsFile(ioFile!).get('image_input')!.data as Float32Array;
    const x = new Float32Array(3 * 96 * 96);
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 96; y++) x.set(full.subarray((c * 224 + 64 + y) * 224 + 64, (c * 224 + 64 + y) * 224 + 160), (c * 96 + y) * 96);
    const ref = loadSafetensorsFile(camFile!);
    // inception5b for the top class, and inception4c, whose gradient comes back through inception5b …
    // 4d, the 2×2 max pool and 4e.
    const cases = [
      ['crop96.inception5b', {}],
      ['crop96.inception4c.class3', { layer: 'inception4c', classIndex: 3 }],
    ] as const;
    for (const [key, options] of cases) {
      const r = await m.gradCam({ dims: [1, 3, 96, 96], data: x }, options);
      const cam = ref.get(`${key}.cam`)!.data as Float64Array;
      assert.ok(
        cam.some((v) => v > 0),
        `${key}: the reference map is not empty`,
      );
      assert.equal(r.classIndex[0], Number((ref.get(`${key}.class`)!.data as BigInt64Array)[0]), key);
      const e = relativeError(r.cam.data, cam);
      console.log(`Grad-CAM ${key} (${r.cam.dims.slice(1).join('×')}) on WebGPU: relative error ${e.toExponential(2)} against PyTorch`);
      assert.ok(e <= 1e-3, `${key}: relative error ${e}`);
    }
    await m.dispose();
  });

  it(
    "guard: ORT's WebGPU NHWC convolution is still wrong (when this fails, drop the NCHW workaround in runtime/device.ts)",
    { skip },
    async () => {
      // A 3×3 convolution, 6 input channels (a multiple of 3 but not of 4, above 3) → 8 outputs.
      const [ci, co] = [6, 8];
      const b = new OnnxGraphBuilder('nhwc-guard');
      b.input({ name: 'x', dtype: 'float32', dims: [1, ci, 8, 8] });
      b.initializer('w', {
        dtype: 'float32',
        dims: [co, ci, 3, 3],
        data: Float32Array.from({ length: co * ci * 9 }, (_, i) => Math.sin(i * 0.37)),
      });
      b.node('Conv', ['x', 'w'], ['y'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
      b.output({ name: 'y', dtype: 'float32', dims: [1, co, 8, 8] });
      const model = b.encode();
      const x = new ort.Tensor(
        'float32',
        Float32Array.from({ length: ci * 64 }, (_, i) => Math.cos(i * 0.11)),
        [1, ci, 8, 8],
      );
      const run = async (ep: ort.InferenceSession.ExecutionProviderConfig): Promise<Float32Array> => {
        const s = await ort.InferenceSession.create(model, { executionProviders: [ep] });
        const y = (await s.run({ x })).y!.data as Float32Array;
        await s.release();
        return y;
      };
      const ref = await run('cpu');
      const nchw = relMax(await run({ name: 'webgpu', preferredLayout: 'NCHW' }), ref);
      const nhwc = relMax(await run({ name: 'webgpu', preferredLayout: 'NHWC' }), ref);
      assert.ok(nchw <= 1e-5, `NCHW (our layout) is off by ${nchw.toExponential(2)}`);
      assert.ok(nhwc > 1e-2, `NHWC is now correct (${nhwc.toExponential(2)}): the workaround can go`);
    },
  );
});

describe('the CLI on WebGPU', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'googlenet-webgpu-cli-'));
  const sample = join(tmp, 'sneaker.png');
  before(async () => {
    const img = (await (await data.openDataset({ name: 'fashion-mnist-subset', split: 'test' })).get(0)).image;
    await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: img.channels as 1 | 3 } })
      .png()
      .toFile(sample);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('predict --device webgpu prints the CPU logits (≤ 1e-4) and says which device', { skip }, () => {
    const logits = (device: string): { logits: number[] } => {
      const r = cli('predict', '--model', FASHION, '--device', device, '--logits', '--json', sample);
      assert.equal(r.status, 0, r.stderr);
      if (device === 'webgpu') assert.match(r.stderr, /^device: webgpu$/m);
      return (JSON.parse(r.stdout) as { logits: number[] }[])[0]!;
    };
    const e = relMax(logits('webgpu').logits, logits('cpu').logits);
    assert.ok(e <= 1e-4, `relative error ${e.toExponential(2)}`);
  });

  it('eval and train --device webgpu run (16 test images; one step of a narrow model)', { skip }, () => {
    const ev = cli('eval', '--model', FASHION, '--dataset', 'fashion-mnist-subset', '--limit-test', '16', '--device', 'webgpu', '--json');
    assert.equal(ev.status, 0, ev.stderr);
    const cpu = cli('eval', '--model', FASHION, '--dataset', 'fashion-mnist-subset', '--limit-test', '16', '--json');
    assert.equal((JSON.parse(ev.stdout) as { top1: number }).top1, (JSON.parse(cpu.stdout) as { top1: number }).top1);
    const args = ['train', '--dataset', 'fashion-mnist-subset', '--out', join(tmp, 'run'), '--width', '0.0625', '--batch-size', '8'];
    const gpu = cli(...args, '--max-steps', '2', '--limit-test', '16', '--device', 'webgpu', '--json');
    assert.equal(gpu.status, 0, gpu.stderr);
    assert.match(gpu.stderr, /^device: webgpu$/m);
    assert.equal((JSON.parse(gpu.stdout) as { step: number }).step, 2);
  });
});

describe('devices that are not there', () => {
  it('cuda without its provider: a BackendError saying how to install it', async () => {
    await assert.rejects(selectDevice('cuda'), (e: unknown) => {
      assert.ok(e instanceof BackendError);
      assert.match(e.message, /^device cuda: not installed; .*`ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node` downloads it/);
      return true;
    });
    const m = await loadModel(FASHION, { device: 'cuda' });
    await assert.rejects(m.forward(randomInput([1, 1, 28, 28], 1)), /device cuda: not installed/);
  });

  it('an unknown device is an OptionError naming the choices', async () => {
    await assert.rejects(selectDevice('tpu' as 'cpu'), (e: unknown) => e instanceof OptionError && /cpu, webgpu, cuda/.test(e.message));
  });

  it('auto takes the best that works and says what it passed over', async () => {
    const c = await selectDevice('auto');
    assert.ok(['cpu', 'webgpu', 'cuda'].includes(c.device));
    if (c.device === 'cpu')
      assert.ok(
        c.skipped.some((s) => s.startsWith('cuda')),
        c.skipped.join('; '),
      );
  });

  for (const args of [
    ['predict', '--model', FASHION, 'nothing.png'],
    ['eval', '--model', FASHION, '--dataset', 'fashion-mnist-subset'],
    ['serve', '--model', FASHION, '--port', '0'],
  ]) {
    it(`googlenet ${args[0]} --device cuda: one line, exit 1`, () => {
      const r = cli(...args, '--device', 'cuda');
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^googlenet: device cuda: not installed; it needs .*cuda12.*\n$/);
    });
  }

  it('googlenet train --device tpu: one line naming the flag, exit 1', () => {
    const r = cli('train', '--dataset', 'fashion-mnist-subset', '--out', '/tmp/never', '--device', 'tpu');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--device expects one of auto, cpu, webgpu, cuda, received "tpu"/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});
