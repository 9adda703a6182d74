/**
 * `npm run bench:int8-accuracy`: top-1 of model directories on the full Fashion-MNIST test set
 * (Debian's dataset-fashion-mnist, or `--data DIR`) with ONNX Runtime for Node on this CPU and
 * with ONNX Runtime Web's WebAssembly kernels (the page's), so an int8 model's accuracy is known
 * per integer kernel. Prints the CPU's model and integer-relevant flags; run it under
 * `qemu-x86_64 -cpu Haswell` to get an AVX2-only CPU's kernels on any x86 machine (the flags
 * printed are then the host's: the emulated CPU reports AVX2 without AVX-512 to ONNX Runtime).
 * A benchmark, never a test.
 *
 *   npm run bench:int8-accuracy -- [--limit N] [--no-wasm] [--threads 2] DIR…
 */
import * as ortWeb from 'onnxruntime-web';
import { ortEngine, type Engine, type OrtModule } from '../src/advanced.js';
import { data, evaluate, loadModelDir } from '../src/index.js';
import { cpuInfo } from './profile.js';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv.splice(i, 2)[1] : undefined;
};
const limit = Number(flag('--limit') ?? 0) || undefined;
const threads = Number(flag('--threads') ?? 2);
const dataDir = flag('--data');
const wasm = !argv.includes('--no-wasm');
const dirs = argv.filter((a) => !a.startsWith('--'));
if (dirs.length === 0) throw new Error('usage: bench/int8-accuracy.ts [--limit N] [--no-wasm] DIR…');

function cpu(): string {
  const { model, flags } = cpuInfo();
  return `${model} (${flags.join(', ') || 'no AVX2'})`;
}

ortWeb.env.wasm.numThreads = 1;
const engines: [string, Engine | undefined][] = [['onnxruntime-node', undefined]];
if (wasm) engines.push(['onnxruntime-web wasm', ortEngine(ortWeb as unknown as OrtModule, { name: 'wasm', device: 'wasm' })]);

console.log(`# ${cpu()}; ${process.env.QEMU_CPU ? `under qemu -cpu ${process.env.QEMU_CPU}` : 'native'}`);
const ds = await data.openDataset({ name: 'fashion-mnist', split: 'test', ...(dataDir ? { data: dataDir } : {}) });
for (const dir of dirs) {
  for (const [name, engine] of engines) {
    const model = loadModelDir(dir, { threads, ...(engine ? { engine } : {}) });
    const t0 = performance.now();
    const m = await evaluate(model, ds, { ...(limit ? { limit } : {}) });
    const s = (performance.now() - t0) / 1000;
    const bits = model.quantization ? `, int8 weights ±${model.engine.int8Saturates ? 63 : 127}` : '';
    console.log(`${dir}\t${name}${bits}\ttop-1 ${(100 * m.top1).toFixed(2)} %\t(${m.n} images, ${s.toFixed(0)} s)`);
    await model.dispose();
  }
}
