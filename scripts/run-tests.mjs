#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node's test runner (through tsx).
// Usage: node scripts/run-tests.mjs [filter…]  — a filter keeps files whose path contains it.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
const filters = process.argv.slice(2);
const files = ['src', 'test']
  .flatMap((d) => walk(d))
  .sort()
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// The software GPU: Debian's chromium ships SwiftShader's Vulkan driver, which onnxruntime-node's
// WebGPU provider (Dawn) finds through these two variables (the loader reads them at start-up, so
// they are set for the test processes, not inside a test). Tests of `device: 'webgpu'` use it.
const env = { ...process.env };
const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (existsSync(swiftshader) && !env.VK_ICD_FILENAMES) {
  env.VK_ICD_FILENAMES = swiftshader;
  env.LD_LIBRARY_PATH = ['/usr/lib/chromium', env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  env.XDG_RUNTIME_DIR ??= '/tmp'; // quiets the Vulkan loader's "XDG_RUNTIME_DIR is invalid"
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
