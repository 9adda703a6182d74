/**
 * Which execution provider ONNX Runtime puts each node on, for the inference graph and a
 * training step on a device: ORT's verbose log lists the placements; this prints them by
 * operator. Used for docs/PERFORMANCE.md#gpu.
 *
 *   npx tsx scripts/placement.ts [--device webgpu] [--preset cifar] [--width 1]
 *
 * On a machine without a GPU, point Vulkan at SwiftShader first (as scripts/run-tests.mjs does):
 *   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json LD_LIBRARY_PATH=/usr/lib/chromium npx tsx scripts/placement.ts
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: o } = parseArgs({
  options: {
    device: { type: 'string', default: 'webgpu' },
    preset: { type: 'string', default: 'cifar' },
    width: { type: 'string', default: '1' },
    child: { type: 'string' },
  },
});

if (o.child) {
  // The child: build the sessions with ORT logging everything to stderr.
  const ort = await import('onnxruntime-node');
  ort.env.logLevel = 'verbose';
  const { GoogLeNet, createTrainStep, parseDevice } = await import('../src/index.js');
  const m = new GoogLeNet({ preset: o.preset as 'cifar', width: Number(o.width), numClasses: 10 }, { device: parseDevice(o.device) });
  const size = m.config.inputSize;
  process.stderr.write('\n@@ inference\n');
  await m.forward({ dims: [1, m.config.inChannels, size, size], data: new Float32Array(m.config.inChannels * size * size) });
  process.stderr.write('\n@@ training step\n');
  const step = createTrainStep(m, { optimizer: { type: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 5e-4 } });
  await step.step({ dims: [2, m.config.inChannels, size, size], data: new Float32Array(2 * m.config.inChannels * size * size) }, [0, 1]);
  process.stderr.write('\n@@ end\n');
} else {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2), '--child', '1'], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) {
    process.stderr.write(
      r.stderr
        .split('\n')
        .filter((l) => !/\[[VI]:onnxruntime/.test(l))
        .slice(-20)
        .join('\n') + '\n',
    );
    process.exit(1);
  }
  let section = '';
  let ep = '';
  const counts = new Map<string, Map<string, Map<string, number>>>(); // section → EP → op → count
  for (const line of r.stderr.split('\n')) {
    const s = /^@@ (.*)$/.exec(line);
    if (s) section = s[1]!;
    const text = line.replace(/^.*VerifyEachNodeIsAssignedToAnEp\]/, '');
    const all = /All nodes placed on \[(\w+)\]\. Number of nodes: (\d+)/.exec(text);
    if (all) console.log(`${section}: all ${all[2]} nodes on ${all[1]}`);
    const some = /Node\(s\) placed on \[(\w+)\]\. Number of nodes: (\d+)/.exec(text);
    if (some) {
      ep = some[1]!;
      console.log(`${section}: ${some[2]} nodes on ${ep}`);
      continue;
    }
    const node = /^\s{3}(\w+) \((.*)\)$/.exec(text);
    if (node && ep && line.includes('VerifyEachNodeIsAssignedToAnEp')) {
      const bySection = counts.get(section) ?? new Map<string, Map<string, number>>();
      const byOp = bySection.get(ep) ?? new Map<string, number>();
      byOp.set(node[1]!, (byOp.get(node[1]!) ?? 0) + 1);
      bySection.set(ep, byOp);
      counts.set(section, bySection);
    }
  }
  for (const [section, byEp] of counts) {
    for (const [e, byOp] of byEp) {
      if (!e.startsWith('CPU')) continue;
      const ops = [...byOp].sort((a, b) => b[1] - a[1]).map(([op, n]) => `${op} ×${n}`);
      console.log(`${section}, on ${e}: ${ops.join(', ')}`);
    }
  }
}
