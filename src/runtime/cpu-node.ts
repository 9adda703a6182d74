/**
 * What this machine's CPU means for ONNX Runtime's integer kernels. On x86 without AVX-512 VNNI or
 * AVX-VNNI (AVX2-only CPUs: AMD before Zen 4, Intel before Ice Lake; and AVX-512 without VNNI),
 * MLAS multiplies uint8 activations by int8 weights with `vpmaddubsw`, which adds two products
 * into a saturating int16; VNNI's `vpdpbusd`, AMX, ARM and WebAssembly accumulate in int32.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** CPU flags (as Linux's /proc/cpuinfo and macOS's sysctl name them) whose int8 kernels do not saturate. */
const NON_SATURATING = [/\bavx512_vnni\b/, /\bavx_vnni\b/, /\bamx_int8\b/, /\bAVX512VNNI\b/, /\bAVXVNNI\b/];

/** The flags of the first CPU, or undefined where they cannot be read. */
function cpuFlags(): string | undefined {
  try {
    if (process.platform === 'linux') return /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
    if (process.platform === 'darwin') {
      const read = (key: string): string => execFileSync('sysctl', ['-n', key], { encoding: 'utf8', timeout: 2000 });
      return `${read('machdep.cpu.features')} ${read('machdep.cpu.leaf7_features')}`;
    }
  } catch {
    // unreadable: treated as unknown below
  }
  return undefined;
}

/**
 * Whether this process's int8 kernels can saturate: `GOOGLENET_INT8_WEIGHT_BITS=7` says yes (run
 * int8 models with ±63 weights), `8` says no (any other value: decided as if unset); otherwise x86-64 CPUs without a VNNI flag (and any
 * x86 CPU whose flags cannot be read) do, other architectures do not.
 */
export function cpuInt8Saturates(env: NodeJS.ProcessEnv = process.env, arch = process.arch, flags = cpuFlags): boolean {
  const bits = env.GOOGLENET_INT8_WEIGHT_BITS;
  if (bits === '7') return true;
  if (bits === '8') return false;
  if (arch !== 'x64' && arch !== 'ia32') return false;
  const f = flags();
  return f === undefined || !NON_SATURATING.some((re) => re.test(f));
}
