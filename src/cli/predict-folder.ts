/**
 * `googlenet predict DIR… [--out results.jsonl]`: the streaming form of predict, for folders of
 * any size. Results go out as JSON Lines as they come (to --out, else stdout); `--resume` reads
 * the finished files back from --out, drops a half-written last line, and goes on after them;
 * `--features pool5 --out x.safetensors` writes one activation row per image instead. A progress
 * line with images/s and ETA on a terminal; unreadable files are a warning (or the end, with
 * `--on-error stop`).
 */
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync, statSync, truncateSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  FileWriteError,
  listImages,
  type NodeClassifier,
  OptionError,
  predictFiles,
  saveSafetensorsFile,
  type FileResult,
} from '../index.js';
import { InvalidArgumentError } from 'commander';
import { intOption, log, workersOption } from './common.js';

export interface FolderFlags {
  recursive: boolean;
  out?: string;
  features?: string;
  onError: 'skip' | 'stop';
  resume: boolean;
  batch: number;
  workers?: number;
  topK: number;
  logits: boolean;
  resize?: number;
  crop?: number;
}

/** True when `predict` should stream: a folder among the paths, or an output file. */
export function isFolderRun(paths: readonly string[], f: Partial<FolderFlags>): boolean {
  if (f.out || f.recursive || f.features || f.resume) return true;
  return paths.some((p) => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return false;
    }
  });
}

/** The files already in a JSON Lines result file; a last line cut short by a crash is removed. */
function finishedFiles(out: string): Set<string> {
  const done = new Set<string>();
  if (!existsSync(out)) return done;
  const text = readFileSync(out, 'utf8');
  let end = 0;
  for (const line of text.split('\n')) {
    if (end + line.length >= text.length) break; // no newline after it: a partial line
    try {
      done.add((JSON.parse(line) as { file: string }).file);
    } catch {
      break;
    }
    end += line.length + 1;
  }
  if (end < text.length) truncateSync(out, Buffer.byteLength(text.slice(0, end)));
  return done;
}

/** Opens `out` for appending (resume) or writing, or says in one line why it cannot. */
function openOut(out: string, append: boolean): number {
  try {
    return openSync(out, append ? 'a' : 'w');
  } catch (e) {
    throw new FileWriteError(`${out}: cannot write the results (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, {
      file: out,
    });
  }
}

/** The features file is written atomically at the end: check now that its folder takes files. */
function checkWritableDir(out: string): void {
  try {
    accessSync(dirname(resolve(out)), constants.W_OK);
  } catch (e) {
    throw new FileWriteError(`${out}: cannot write the features (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, {
      file: out,
    });
  }
}

function progress(total: number | undefined): (done: number, end?: boolean) => void {
  if (!process.stderr.isTTY) return () => undefined;
  const t0 = performance.now();
  let last = 0;
  return (done, end = false) => {
    const now = performance.now();
    if (!end && now - last < 250) return;
    last = now;
    const rate = done / ((now - t0) / 1000);
    const eta = total && rate > 0 ? Math.max(0, (total - done) / rate) : undefined;
    const etaText = eta === undefined ? '' : ` · ETA ${Math.floor(eta / 60)}:${String(Math.round(eta % 60)).padStart(2, '0')}`;
    process.stderr.write(`\r${done}${total ? `/${total}` : ''} images · ${rate.toFixed(1)} img/s${etaText}   ${end ? '\n' : ''}`);
  };
}

function checkFlags(f: FolderFlags): void {
  if (f.resize !== undefined || f.crop !== undefined)
    throw new OptionError("--resize/--crop: folders are read with the model's own preprocessing; leave them out", { option: '--resize' });
  if (f.features && !f.out?.endsWith('.safetensors'))
    throw new OptionError('--features: give --out FILE.safetensors for the feature rows', { option: '--features' });
  if (f.features && f.resume) throw new OptionError('--resume works with JSON Lines results, not with --features', { option: '--resume' });
  if (f.resume && !f.out) throw new OptionError('--resume: give the --out file of the run to continue', { option: '--resume' });
}

/** The streaming predict: see the file's comment. */
export async function predictFolders(paths: string[], f: FolderFlags, load: () => Promise<NodeClassifier>): Promise<void> {
  checkFlags(f);
  const files = listImages(paths, { recursive: f.recursive });
  const first = await files.next();
  if (first.done)
    throw new OptionError(`no images in ${paths.join(', ')}${f.recursive ? '' : ' (sub-folders are read with --recursive)'}`, {
      option: 'paths',
    });
  const skip = f.resume && f.out ? finishedFiles(f.out) : new Set<string>();
  if (f.features && f.out) checkWritableDir(f.out);
  const fd = f.features ? undefined : f.out ? openOut(f.out, f.resume) : 1; // 1: stdout
  const net = await load();
  let total: number | undefined;
  if (process.stderr.isTTY) {
    total = -skip.size;
    for await (const _ of listImages(paths, { recursive: f.recursive })) total++;
  }
  const tick = progress(total);
  const rows: Float32Array[] = [];
  const names: string[] = [];
  const t0 = performance.now();
  let n = 0;
  const counts = await predictFiles(
    net,
    (async function* () {
      yield first.value;
      yield* files;
    })(),
    {
      batch: f.batch,
      ...(f.workers !== undefined ? { workers: f.workers } : {}),
      topK: f.topK,
      logits: f.logits,
      ...(f.features ? { features: f.features } : {}),
      skip,
      onResult: (r: FileResult) => {
        if (r.features) {
          rows.push(r.features);
          names.push(r.file);
        } else {
          const { features: _f, ...line } = r;
          writeSync(fd!, JSON.stringify(line) + '\n');
        }
        tick(++n);
      },
      onError: (file, err) => {
        if (f.onError === 'stop') return 'stop';
        log(`googlenet: warning: skipped ${err.message.startsWith(file) ? err.message : `${file}: ${err.message}`}`);
        return 'skip';
      },
    },
  ).finally(() => {
    if (fd !== undefined && fd !== 1) closeSync(fd);
  });
  tick(counts.done, true);
  await net.dispose();
  if (f.features && f.out) {
    const d = rows[0]?.length ?? 0;
    const data = new Float32Array(rows.length * d);
    rows.forEach((r, i) => data.set(r, i * d));
    saveSafetensorsFile(
      f.out,
      { [f.features]: { dtype: 'F32', dims: [rows.length, d], data } },
      { files: JSON.stringify(names), feature: f.features },
    );
  }
  const rate = counts.done / ((performance.now() - t0) / 1000);
  const extra = [counts.failed ? `${counts.failed} unreadable skipped` : '', counts.skipped ? `${counts.skipped} already done` : ''].filter(
    Boolean,
  );
  log(
    `googlenet predict: ${counts.done} images${extra.length ? ` (${extra.join(', ')})` : ''}, ${rate.toFixed(1)} img/s${f.out ? ` → ${f.out}` : ''}`,
  );
}

/** The flags of the streaming form, as `.option(...FOLDER_FLAGS.out)` arguments. */
export const FOLDER_FLAGS = {
  recursive: ['--recursive', 'also read the sub-folders of folders', false],
  out: ['--out <file>', 'write JSON Lines results (file, top, logits) here as they come; FILE.safetensors with --features'],
  features: ['--features <tap>', 'write this activation per image (pool5: the 1024-d embedding) to --out FILE.safetensors'],
  onError: ['--on-error <what>', 'an unreadable file: skip (a warning) or stop', onErrorOption, 'skip'],
  resume: ['--resume', 'continue the run whose results are in --out, without redoing finished files', false],
  batch: ['--batch <n>', 'images per model call (folders)', intOption('--batch'), 16],
  workers: [
    '--workers <n>',
    'threads that read, decode and preprocess images ahead of the model (folders; default 2 on more than 2 cores, else 0: the main thread)',
    workersOption(),
  ],
} as const;

function onErrorOption(v: string): 'skip' | 'stop' {
  if (v !== 'skip' && v !== 'stop') throw new InvalidArgumentError(`--on-error expects skip or stop, received "${v}"`);
  return v;
}
