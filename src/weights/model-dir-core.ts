/**
 * The model-directory format shared by Node (`model-dir.ts`, files) and the browser
 * (`web/model-dir.ts`, HTTP): `config.json` + `model.safetensors`. No I/O here.
 */
import { WeightFormatError } from '../errors.js';
import type { GoogLeNetConfig } from '../models/config.js';
import type { GoogLeNet, PreprocessConfig } from '../models/model.js';
import type { StoredTensor } from './safetensors-core.js';

export const MODEL_FORMAT = 'googlenet-ts/model';
export const MODEL_FORMAT_VERSION = 1;

export interface ModelDirConfig {
  format: typeof MODEL_FORMAT;
  version: number;
  /** The full resolved model config (preset and every option). */
  model: GoogLeNetConfig;
  labels: string[] | null;
  preprocess: PreprocessConfig;
  /** Free-form provenance, e.g. the weight file it was imported from. */
  source?: string;
}

/** Validates a parsed `config.json`; `file` names it in the messages. */
export function checkModelDirConfig(raw: unknown, file: string): ModelDirConfig {
  const c = (raw ?? {}) as Partial<ModelDirConfig>;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new WeightFormatError(`${file}: expected a JSON object`);
  if (c.format !== MODEL_FORMAT) throw new WeightFormatError(`${file}: format is ${JSON.stringify(c.format)}, expected "${MODEL_FORMAT}" — not a googlenet-ts model directory`);
  if (typeof c.version !== 'number' || c.version > MODEL_FORMAT_VERSION) {
    throw new WeightFormatError(`${file}: format version ${String(c.version)} is newer than this googlenet-ts reads (${MODEL_FORMAT_VERSION})`);
  }
  if (!c.model || !c.preprocess) throw new WeightFormatError(`${file}: missing "model" or "preprocess"`);
  if (c.labels != null && (!Array.isArray(c.labels) || !c.labels.every((s) => typeof s === 'string'))) {
    throw new WeightFormatError(`${file}: "labels" must be an array of strings or null`);
  }
  return c as ModelDirConfig;
}

/** The model's state dict as the tensors of its `model.safetensors` (F32 weights, I64 counters). */
export function storedStateDict(model: GoogLeNet): Map<string, StoredTensor> {
  const out = new Map<string, StoredTensor>();
  for (const [k, t] of model.stateDict()) {
    const data = t.data as Float32Array | BigInt64Array;
    out.set(k, { dtype: data instanceof BigInt64Array ? 'I64' : 'F32', dims: [...t.dims], data });
  }
  return out;
}
