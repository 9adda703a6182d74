/** Which CPUs get saturation-safe int8 weights: x86 without a VNNI flag, unknown x86, and what the variable says. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuInt8Saturates } from './cpu-node.js';

test('int8 kernels saturate on x86 without VNNI (or unknown), not with VNNI, AMX or on ARM; GOOGLENET_INT8_WEIGHT_BITS decides first', () => {
  const flags = (f: string | undefined) => (): string | undefined => f;
  const avx2 = ' fpu sse2 avx avx2 fma';
  assert.equal(cpuInt8Saturates({}, 'x64', flags(avx2)), true, 'AVX2-only (AMD before Zen 4, Intel before Ice Lake)');
  assert.equal(cpuInt8Saturates({}, 'x64', flags(`${avx2} avx512f avx512bw`)), true, 'AVX-512 without VNNI (Skylake-X)');
  assert.equal(cpuInt8Saturates({}, 'x64', flags(`${avx2} avx512f avx512_vnni`)), false, 'AVX-512 VNNI');
  assert.equal(cpuInt8Saturates({}, 'x64', flags(`${avx2} avx_vnni`)), false, 'AVX-VNNI (Alder Lake)');
  assert.equal(cpuInt8Saturates({}, 'x64', flags(`${avx2} amx_int8`)), false, 'AMX');
  assert.equal(cpuInt8Saturates({}, 'x64', flags('FPU SSE AVX2 AVX512VNNI')), false, "macOS's sysctl spelling");
  assert.equal(cpuInt8Saturates({}, 'x64', flags(undefined)), true, 'unreadable flags on x86: the safe choice');
  assert.equal(cpuInt8Saturates({}, 'arm64', flags(undefined)), false, 'ARM accumulates in int32');
  assert.equal(cpuInt8Saturates({ GOOGLENET_INT8_WEIGHT_BITS: '7' }, 'arm64', flags(undefined)), true);
  assert.equal(cpuInt8Saturates({ GOOGLENET_INT8_WEIGHT_BITS: '8' }, 'x64', flags(avx2)), false);
  assert.equal(cpuInt8Saturates({ GOOGLENET_INT8_WEIGHT_BITS: 'x' }, 'x64', flags(avx2)), true, 'another value: as if unset');
});
