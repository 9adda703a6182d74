/**
 * A workaround for a crash in onnxruntime-node 1.30: creating a session segfaults (exit 139)
 * when the process's command line is longer than about 30 KB, so `googlenet predict` over
 * ~1,150 absolute paths died silently. libonnxruntime reads `/proc/self/cmdline` (for its
 * process information) and matches it with a std::regex whose matcher recurses once per
 * character; gdb shows thousands of recursive frames inside libonnxruntime.so.1 until the 8 MB
 * main-thread stack overflows. Reproduction, for an upstream report:
 *
 *   node -e "require('onnxruntime-node').InferenceSession.create(new Uint8Array(3)).catch(() => {})" \
 *     $(python3 -c "print('x' * 30000)")        # → Segmentation fault, exit 139 (20,000 bytes: fine)
 *
 * A process cannot shorten its own /proc/self/cmdline (process.title does not), so a long
 * command line is relayed instead: the CLI starts itself again with no arguments and hands them
 * over through a pipe on fd 3; the child's command line stays short.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Command lines longer than this are relayed (a margin under the ~30 KB that crashes). */
const RELAY_ABOVE_BYTES = 8192;
const ENV = 'GOOGLENET_ARGV_FD';

/**
 * In the relayed child: restores `process.argv` from fd 3 and returns false. In a process whose
 * arguments are too long: runs the child, mirrors its exit, and returns true (do nothing more).
 */
export async function relayLongArgv(): Promise<boolean> {
  if (process.env[ENV] === '3') {
    delete process.env[ENV];
    process.argv = [process.argv[0]!, process.argv[1]!, ...(JSON.parse(readFileSync(3, 'utf8')) as string[])];
    return false;
  }
  const bytes = process.argv.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
  if (bytes <= RELAY_ABOVE_BYTES) return false;
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!], {
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
    env: { ...process.env, [ENV]: '3' },
  });
  const pipe = child.stdio[3] as NodeJS.WritableStream;
  pipe.end(JSON.stringify(process.argv.slice(2)));
  // Ctrl-C reaches the child too (same process group); a signal sent to us alone is passed on.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('exit', (c, s) => resolve([c, s])),
  );
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  }
  process.exitCode = code ?? 1;
  return true;
}
