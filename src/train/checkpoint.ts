/**
 * Self-describing training checkpoints (nanoGPT/nanochat): one safetensors file holding
 *
 *   model/<name>   the weights under torchvision's names
 *   ema/<name>     the Polyak average (when on)
 *   optim/<path>   every typed array of the optimizer state
 *
 * and, in the header's `__metadata__["googlenet-ts"]`, one JSON document: format and version,
 * the position (epoch, batch within it, global step), the loop's RNG state, the whole training
 * config, the best validation result so far, and the optimizer state's non-tensor skeleton. A
 * checkpoint can be resumed or evaluated with no other flags.
 *
 * This module turns checkpoints into bytes and back; `checkpoint-node.ts` writes them atomically:
 * a failed write (disk full, read-only folder, a crash) leaves the previous checkpoint exactly as
 * it was.
 */
import { WeightFormatError } from '../errors.js';
import type { Weights } from '../graph/lower.js';
import type { TensorArray } from '../tensor.js';
import { parseSafetensors, writeSafetensors, type StoredDType, type StoredTensor } from '../weights/safetensors.js';
import type { EmaState } from './ema.js';

const CHECKPOINT_FORMAT = 'googlenet-ts/checkpoint';
export const CHECKPOINT_VERSION = 1;
const META_KEY = 'googlenet-ts';

/** Where training stands: the next batch to run is batch `batch` of epoch `epoch`. */
export interface TrainPosition {
  /** 0-based epoch of the next batch. */
  epoch: number;
  /** 0-based batch within that epoch (0 at an epoch boundary). */
  batch: number;
  /** Optimizer steps done since the start (the next step's index). */
  step: number;
}

/** The best validation result so far. */
export interface BestRecord {
  top1: number;
  epoch: number;
  step: number;
  /** Which weights scored it: the raw ones or their EMA. */
  weights: 'raw' | 'ema';
}

/** A checkpoint in memory. `C` is the training config (any JSON value). */
export interface Checkpoint<C = unknown> {
  position: TrainPosition;
  /** State of the loop's own generator (`Rng.getState()`). */
  rng: number[];
  config: C;
  best: BestRecord | null;
  weights: Weights;
  /** Each weight's dims (torchvision layout); stored so the file is a usable state dict. Default: flat. */
  shapes?: Map<string, readonly number[]>;
  /** Whatever the training step's `optimizerState()` returned (typed arrays, Maps, plain JSON). */
  optimizer: unknown;
  ema: EmaState | null;
  /** The trainer's own bookkeeping (running sums of the current epoch, elapsed time); any JSON. */
  loop?: unknown;
  /** ISO time of writing (set by `saveCheckpoint`). */
  savedAt?: string;
}

interface Meta {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  savedAt: string;
  position: TrainPosition;
  rng: number[];
  config: unknown;
  best: BestRecord | null;
  optimizer: unknown;
  ema: { decay: number; warmup: boolean; steps: number } | null;
  loop?: unknown;
}

// ---------------------------------------------------------------------------------------------
// Tensor-aware JSON: typed arrays become tensors, everything else stays in the JSON skeleton.

const DTYPE_OF: Record<string, StoredDType> = {
  Float32Array: 'F32',
  Float64Array: 'F64',
  BigInt64Array: 'I64',
  Int32Array: 'I32',
  Uint8Array: 'U8',
};

function isTypedArray(v: unknown): v is TensorArray {
  return ArrayBuffer.isView(v) && !(v instanceof DataView) && v.constructor.name in DTYPE_OF;
}

/** Replaces typed arrays in `value` by `{ $tensor: key }`, putting them in `tensors` under `prefix/path`. */
export function encodeState(value: unknown, prefix: string, tensors: Map<string, StoredTensor>, path = ''): unknown {
  const key = (): string => {
    let k = `${prefix}/${path || 'value'}`;
    for (let i = 1; tensors.has(k); i++) k = `${prefix}/${path}#${i}`;
    return k;
  };
  const sub = (p: string | number): string => (path ? `${path}.${p}` : String(p));
  if (isTypedArray(value)) {
    const k = key();
    tensors.set(k, { dtype: DTYPE_OF[value.constructor.name]!, dims: [value.length], data: value });
    return { $tensor: k };
  }
  if (value instanceof Map) return { $map: [...value].map(([k, v]) => [k, encodeState(v, prefix, tensors, sub(String(k)))]) };
  if (Array.isArray(value)) return value.map((v, i) => encodeState(v, prefix, tensors, sub(i)));
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (typeof value === 'number' && !Number.isFinite(value)) return { $number: String(value) };
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = encodeState(v, prefix, tensors, sub(k));
    return out;
  }
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return null;
  return value;
}

/** The inverse of `encodeState`. */
export function decodeState(value: unknown, tensors: Map<string, StoredTensor>, file = '<checkpoint>'): unknown {
  if (Array.isArray(value)) return value.map((v) => decodeState(v, tensors, file));
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.$tensor === 'string') {
      const t = tensors.get(o.$tensor);
      if (!t)
        throw new WeightFormatError(`${file}: the optimizer state refers to tensor "${o.$tensor}", which the file does not hold`, { file });
      return t.data;
    }
    if (Array.isArray(o.$map)) {
      return new Map(
        o.$map.map((pair: unknown) => {
          if (!Array.isArray(pair) || pair.length !== 2)
            throw new WeightFormatError(`${file}: the optimizer state holds a map entry ${JSON.stringify(pair)}, expected [key, value]`, {
              file,
            });
          return [pair[0], decodeState(pair[1], tensors, file)];
        }),
      );
    }
    if (typeof o.$bigint === 'string') {
      if (!/^-?\d{1,19}$/.test(o.$bigint))
        throw new WeightFormatError(`${file}: the optimizer state holds ${JSON.stringify(o.$bigint)}, expected an integer`, { file });
      return BigInt(o.$bigint);
    }
    if (typeof o.$number === 'string') return Number(o.$number);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) out[k] = decodeState(v, tensors, file);
    return out;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------

function stored(data: Float32Array | BigInt64Array, dims?: readonly number[]): StoredTensor {
  return { dtype: data instanceof BigInt64Array ? 'I64' : 'F32', dims: dims ? [...dims] : [data.length], data };
}

/** The bytes of a checkpoint (a safetensors file). */
export function encodeCheckpoint<C>(c: Checkpoint<C>, savedAt = new Date().toISOString()): Uint8Array {
  const tensors = new Map<string, StoredTensor>();
  for (const [k, v] of c.weights) tensors.set(`model/${k}`, stored(v, c.shapes?.get(k)));
  if (c.ema) for (const [k, v] of c.ema.shadow) tensors.set(`ema/${k}`, stored(v, c.shapes?.get(k)));
  const optimizer = encodeState(c.optimizer, 'optim', tensors);
  const meta: Meta = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    savedAt,
    position: c.position,
    rng: c.rng,
    config: c.config,
    best: c.best,
    optimizer,
    ema: c.ema ? { decay: c.ema.decay, warmup: c.ema.warmup, steps: c.ema.steps } : null,
    ...(c.loop !== undefined ? { loop: c.loop } : {}),
  };
  return writeSafetensors(tensors, { [META_KEY]: JSON.stringify(meta) }, { checksum: true });
}

/** The metadata fields beside the position, each checked before use (a null `rng` or `optimizer` was a TypeError). */
function checkMeta(meta: Meta, file: string): void {
  const bad = (field: string, value: unknown, expected: string): never => {
    throw new WeightFormatError(`${file}: checkpoint ${field} is ${JSON.stringify(value) ?? 'missing'}, expected ${expected}`, { file });
  };
  const isObj = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
  const nat = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
  if (!Array.isArray(meta.rng) || meta.rng.length !== 4 || !meta.rng.every((v) => nat(v) && v <= 0xffffffff))
    bad('rng', meta.rng, 'four uint32 words');
  if (!isObj(meta.optimizer)) bad('optimizer', meta.optimizer, 'an object (the optimizer state)');
  if (!isObj(meta.config)) bad('config', meta.config, 'an object (the training config)');
  const b = meta.best;
  if (b !== null && b !== undefined) {
    const ok =
      isObj(b) &&
      Number.isFinite(b.top1) &&
      b.top1 >= 0 &&
      b.top1 <= 1 &&
      nat(b.epoch) &&
      nat(b.step) &&
      (b.weights === 'raw' || b.weights === 'ema');
    if (!ok) bad('best', b, "null or { top1 in [0, 1], epoch, step, weights: 'raw' | 'ema' }");
  }
  const e = meta.ema;
  if (e !== null && e !== undefined && !(isObj(e) && Number.isFinite(e.decay) && typeof e.warmup === 'boolean' && nat(e.steps)))
    bad('ema', e, 'null or { decay, warmup, steps }');
  if (meta.loop !== undefined && !isObj(meta.loop)) bad('loop', meta.loop, 'an object');
}

/** Parses checkpoint bytes; every problem is a one-line WeightFormatError naming `file`. */
export function decodeCheckpoint<C = unknown>(bytes: Uint8Array, file = '<checkpoint>'): Checkpoint<C> {
  const { tensors, metadata } = parseSafetensors(bytes, file);
  const raw = metadata[META_KEY];
  if (raw === undefined)
    throw new WeightFormatError(
      `${file}: not a googlenet-ts checkpoint (no "${META_KEY}" metadata; a model file? use --from for weights)`,
      { file },
    );
  let meta: Meta;
  try {
    meta = JSON.parse(raw) as Meta;
  } catch (e) {
    throw new WeightFormatError(`${file}: checkpoint metadata is not valid JSON (${(e as Error).message})`, { file });
  }
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta))
    throw new WeightFormatError(`${file}: checkpoint metadata is ${JSON.stringify(meta)}, expected an object`, { file });
  if (meta.format !== CHECKPOINT_FORMAT)
    throw new WeightFormatError(`${file}: format is ${JSON.stringify(meta.format)}, expected "${CHECKPOINT_FORMAT}"`, { file });
  if (typeof meta.version !== 'number' || meta.version > CHECKPOINT_VERSION) {
    throw new WeightFormatError(
      `${file}: checkpoint version ${String(meta.version)} is newer than this googlenet-ts reads (${CHECKPOINT_VERSION})`,
      { file },
    );
  }
  const p = meta.position;
  if (!p || ![p.epoch, p.batch, p.step].every((v) => Number.isInteger(v) && v >= 0)) {
    throw new WeightFormatError(
      `${file}: checkpoint position ${JSON.stringify(p)} is not { epoch, batch, step } of non-negative integers`,
      { file },
    );
  }
  checkMeta(meta, file);
  const weights: Weights = new Map();
  const shapes = new Map<string, readonly number[]>();
  const shadow = new Map<string, Float32Array | BigInt64Array>();
  for (const [k, t] of tensors) {
    const data = t.data instanceof BigInt64Array ? t.data : t.data instanceof Float32Array ? t.data : null;
    if (k.startsWith('model/')) {
      if (!data) throw new WeightFormatError(`${file}: tensor "${k}" is ${t.dtype}, expected F32 or I64`, { file });
      weights.set(k.slice(6), data);
      shapes.set(k.slice(6), t.dims);
    } else if (k.startsWith('ema/')) {
      if (!data) throw new WeightFormatError(`${file}: tensor "${k}" is ${t.dtype}, expected F32 or I64`, { file });
      shadow.set(k.slice(4), data);
    }
  }
  if (weights.size === 0) throw new WeightFormatError(`${file}: the checkpoint holds no model weights`, { file });
  return {
    position: { epoch: p.epoch, batch: p.batch, step: p.step },
    rng: meta.rng,
    config: meta.config as C,
    best: meta.best ?? null,
    weights,
    shapes,
    optimizer: decodeState(meta.optimizer, tensors, file),
    ema: meta.ema ? { ...meta.ema, shadow } : null,
    ...(meta.loop !== undefined ? { loop: meta.loop } : {}),
    savedAt: meta.savedAt,
  };
}
