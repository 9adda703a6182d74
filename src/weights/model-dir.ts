/**
 * The model-directory format, bytes in and bytes out, shared by Node (`model-dir.ts`: files) and
 * the browser (`web/model-dir.ts`: HTTP, downloads). A model directory holds
 *
 *   config.json        { format, version, model (the full resolved config), labels, preprocess, source? }
 *   model.safetensors  the weights under torchvision's names and layouts
 *
 * so that loading needs no other flags; `googlenet export --format web` adds `manifest.json`.
 *
 * Version 2 adds `dtype` ("fp16": F16 weights; "int8": the folded network's int8 weights, with
 * `quantization` in config.json — see `quantized.ts`). Float32 directories are still written as
 * version 1, so older readers keep reading them.
 */
import { describeValue, OptionError, WeightFormatError } from '../errors.js';
import { defaultPreprocess } from '../infer/classifier.js';
import { getLimits, raiseHint } from '../limits.js';
import { resolveConfig, type GoogLeNetConfig } from '../models/config.js';
import { GoogLeNet, type CreateOptions, type PreprocessConfig } from '../models/model.js';
import { foldBatchNorm } from '../graph/lower.js';
import { pruneGraph } from '../graph/ir.js';
import {
  activationsConfig,
  fp16Tensors,
  int8Tensors,
  loadInt8,
  MODEL_DTYPES,
  type ModelDType,
  type QuantizationConfig,
} from './quantized.js';
import { readSafetensors, writeSafetensors, type StoredTensor } from './safetensors.js';

export const MODEL_FORMAT = 'googlenet-ts/model';
export const MODEL_FORMAT_VERSION = 2;

export interface ModelDirConfig {
  format: typeof MODEL_FORMAT;
  version: number;
  /** The full resolved model config (preset and every option). */
  model: GoogLeNetConfig;
  labels: string[] | null;
  preprocess: PreprocessConfig;
  /** Free-form provenance, e.g. the weight file it was imported from. */
  source?: string;
  /** How the weights are stored (version 2). Default "fp32". */
  dtype?: ModelDType;
  /** int8 only: the activations' parameters and how they were calibrated. */
  quantization?: QuantizationConfig;
}

/** The two files of a model directory. */
export interface ModelDirFiles {
  'config.json': Uint8Array;
  'model.safetensors': Uint8Array;
}

/** What a saved model directory carries beside the weights; each defaults to the model's own. */
export interface ModelDirExtras {
  labels?: string[] | null;
  preprocess?: PreprocessConfig;
  /** Provenance, e.g. "googlenet-ts train: weights after epoch 3". */
  source?: string;
  /** Storage: "fp32", "fp16", or "int8" (needs a model with a quantization). Default: "int8" for a quantized model, else "fp32". */
  dtype?: ModelDType;
  /** int8: how the activations were calibrated (method, samples, dataset). */
  calibration?: Omit<QuantizationConfig, 'scheme' | 'activations'>;
}

/** Validates the `preprocess` field of a `config.json` against its model config (before anything is allocated). */
function checkPreprocess(raw: unknown, model: GoogLeNetConfig, file: string): PreprocessConfig {
  const bad = (what: string): never => {
    throw new WeightFormatError(`${file}: "preprocess${what}`, { file });
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad(`" must be an object, found ${JSON.stringify(raw)}`);
  const p = raw as Record<string, unknown>;
  const size = (k: 'resize' | 'crop'): number => {
    const v = p[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) return bad(`.${k}" must be a positive integer, found ${JSON.stringify(v)}`);
    return v;
  };
  const resize = size('resize');
  const crop = size('crop');
  if (resize > getLimits().maxResize) bad(`.resize" ${resize} is more than ${raiseHint('maxResize')}`);
  if (crop !== model.inputSize) bad(`.crop" ${crop} does not match the model's input size ${model.inputSize}`);
  const c = model.inChannels;
  const list = (k: 'mean' | 'std'): number[] => {
    const v = p[k];
    const ok = Array.isArray(v) && (v.length === c || v.length === 1) && v.every((x) => typeof x === 'number' && Number.isFinite(x));
    if (!ok) return bad(`.${k}" must be an array of ${c === 1 ? '1 number' : `1 or ${c} numbers`}, found ${JSON.stringify(v)}`);
    return v as number[];
  };
  const mean = list('mean');
  const std = list('std');
  if (!std.every((x) => x > 0)) bad(`.std" must be positive, found ${JSON.stringify(std)}`);
  return { resize, crop, mean, std };
}

/** Validates a parsed `config.json`; `file` names it in the messages. The one schema of the format. */
export function checkModelDirConfig(raw: unknown, file: string): ModelDirConfig {
  const c = (raw ?? {}) as Partial<ModelDirConfig>;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new WeightFormatError(`${file}: expected a JSON object`, { file });
  if (c.format !== MODEL_FORMAT)
    throw new WeightFormatError(
      `${file}: format is ${JSON.stringify(c.format)}, expected "${MODEL_FORMAT}" — not a googlenet-ts model directory`,
      { file },
    );
  if (typeof c.version !== 'number' || !Number.isInteger(c.version) || c.version < 1) {
    throw new WeightFormatError(
      `${file}: format version ${JSON.stringify(c.version)} is not a version (expected 1 to ${MODEL_FORMAT_VERSION})`,
      { file },
    );
  }
  if (c.version > MODEL_FORMAT_VERSION) {
    throw new WeightFormatError(`${file}: format version ${c.version} is newer than this googlenet-ts reads (${MODEL_FORMAT_VERSION})`, {
      file,
    });
  }
  if (!c.model || !c.preprocess) throw new WeightFormatError(`${file}: missing "model" or "preprocess"`, { file });
  if (typeof c.model !== 'object' || Array.isArray(c.model)) throw new WeightFormatError(`${file}: "model" must be an object`, { file });
  if (c.labels != null && (!Array.isArray(c.labels) || !c.labels.every((s) => typeof s === 'string'))) {
    throw new WeightFormatError(`${file}: "labels" must be an array of strings or null`, { file });
  }
  if (c.source !== undefined && typeof c.source !== 'string') throw new WeightFormatError(`${file}: "source" must be a string`, { file });
  let model: GoogLeNetConfig;
  try {
    model = resolveConfig(c.model);
  } catch (e) {
    throw new WeightFormatError(`${file}: ${(e as Error).message}`, { file, cause: e });
  }
  if (c.dtype !== undefined && !MODEL_DTYPES.includes(c.dtype)) {
    throw new WeightFormatError(`${file}: "dtype" is ${JSON.stringify(c.dtype)}, expected one of ${MODEL_DTYPES.join(', ')}`, { file });
  }
  const q = c.quantization;
  if (c.dtype === 'int8' && (typeof q !== 'object' || q === null || typeof q.activations !== 'object' || q.activations === null)) {
    throw new WeightFormatError(`${file}: an int8 model needs "quantization" with its "activations"`, { file });
  }
  if (c.labels && c.labels.length !== model.numClasses) {
    throw new WeightFormatError(`${file}: ${c.labels.length} labels for a model with ${model.numClasses} classes`, { file });
  }
  return { ...c, preprocess: checkPreprocess(c.preprocess, model, file) } as ModelDirConfig;
}

/** Parses the text of a `config.json`. */
export function parseModelDirConfig(text: string, file: string): ModelDirConfig {
  // Parsed JSON can take 50 times its size: refused before parsing (the page fetches config.json).
  if (text.length > getLimits().maxJsonBytes)
    throw new WeightFormatError(`${file}: ${text.length.toLocaleString('en-US')} characters is more than ${raiseHint('maxJsonBytes')}`, {
      file,
    });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new WeightFormatError(`${file}: not valid JSON (${(e as Error).message})`, { file });
  }
  return checkModelDirConfig(raw, file);
}

/** The model's state dict as the tensors of its `model.safetensors` (F32 weights, I64 counters). */
function storedStateDict(model: GoogLeNet): Map<string, StoredTensor> {
  const out = new Map<string, StoredTensor>();
  for (const [k, t] of model.stateDict()) {
    const data = t.data as Float32Array | BigInt64Array;
    out.set(k, { dtype: data instanceof BigInt64Array ? 'I64' : 'F32', dims: [...t.dims], data });
  }
  return out;
}

/** The weights as torchvision-named safetensors bytes (PyTorch's `load_state_dict(strict=True)` takes them). */
export function torchvisionSafetensors(model: GoogLeNet): Uint8Array {
  return writeSafetensors(storedStateDict(model), { format: 'pt', producer: 'googlenet-ts' }, { checksum: true });
}

/** The weights as torchvision-named safetensors with every float tensor narrowed to F16. */
export function fp16Safetensors(model: GoogLeNet): Uint8Array {
  return writeSafetensors(fp16Tensors(storedStateDict(model)), { format: 'pt', producer: 'googlenet-ts' });
}

/**
 * The config a model directory of `model` holds.
 * @throws WeightFormatError when the labels do not match the classes.
 */
function modelDirConfig(model: GoogLeNet, extra: ModelDirExtras = {}, where = 'model directory'): ModelDirConfig {
  const labels = extra.labels ?? model.labels ?? null;
  if (labels && labels.length !== model.config.numClasses) {
    throw new WeightFormatError(`${where}: ${labels.length} labels for a model with ${model.config.numClasses} classes`, { file: where });
  }
  const { source } = extra;
  const dtype = extra.dtype ?? (model.quantization ? 'int8' : 'fp32');
  const q = model.quantization;
  if (dtype === 'int8' && !q) throw new WeightFormatError(`${where}: int8 needs a quantized model (googlenet quantize)`, { file: where });
  const calibration = extra.calibration ?? calibrations.get(model) ?? { method: 'unknown', samples: 0 };
  return {
    format: MODEL_FORMAT,
    version: dtype === 'fp32' ? 1 : MODEL_FORMAT_VERSION,
    // The int8 network is the eval graph: no auxiliary heads.
    model: dtype === 'int8' ? { ...model.config, auxLogits: false } : model.config,
    labels,
    preprocess: extra.preprocess ?? model.preprocess ?? defaultPreprocess(model.config),
    ...(source ? { source } : {}),
    ...(dtype !== 'fp32' ? { dtype } : {}),
    ...(dtype === 'int8'
      ? { quantization: { scheme: 'qdq-s8-weights-u8-activations', ...calibration, activations: activationsConfig(q!) } }
      : {}),
  };
}

/** The int8 weight tensors of a quantized model (folded biases computed from its float weights). */
function int8StateDict(model: GoogLeNet): Map<string, StoredTensor> {
  const g = model.graph('eval');
  const folded = foldBatchNorm(pruneGraph(g, g.outputs), model.weights);
  return int8Tensors(model, model.quantization!, (name) => folded.weights.get(name) as Float32Array);
}

/** The two files of a model directory, as bytes (what Node's `saveModelDir` writes and the page downloads). */
export function modelDirFiles(model: GoogLeNet, extra: ModelDirExtras = {}, where?: string): ModelDirFiles {
  const config = modelDirConfig(model, extra, where);
  const meta = { format: 'pt', producer: 'googlenet-ts' };
  const weights =
    config.dtype === 'int8'
      ? writeSafetensors(int8StateDict(model), { ...meta, dtype: 'int8' })
      : config.dtype === 'fp16'
        ? fp16Safetensors(model)
        : torchvisionSafetensors(model);
  return { 'config.json': new TextEncoder().encode(JSON.stringify(config, null, 2) + '\n'), 'model.safetensors': weights };
}

export function describeConfig(c: GoogLeNetConfig): string {
  return `preset ${c.preset}, ${c.numClasses} classes, ${c.inChannels} channel${c.inChannels === 1 ? '' : 's'}, ${c.inputSize}×${c.inputSize}, width ${c.width}${c.auxLogits ? ', aux heads' : ''}`;
}

const sources = new WeakMap<GoogLeNet, string>();
const calibrations = new WeakMap<GoogLeNet, Omit<QuantizationConfig, 'scheme' | 'activations'>>();

/** The `source` line of the config.json a model was loaded from (provenance), if any. */
export function modelSource(model: GoogLeNet): string | undefined {
  return sources.get(model);
}

/** Whether a provenance line says the weights are a random initialization. */
export function isUntrainedSource(source: string | undefined): boolean {
  return /random|untrained/i.test(source ?? '');
}

/**
 * Builds the model of a config and loads its weights, checking keys, shapes and dtypes: a weight
 * file that does not fit its config is a WeightFormatError naming the first mismatching tensor.
 * @param names how the two files are named in messages (paths or URLs).
 */
export function modelFromFiles(
  cfg: ModelDirConfig,
  weights: Uint8Array,
  names: { config: string; weights: string },
  create: CreateOptions = {},
): GoogLeNet {
  let model: GoogLeNet;
  try {
    model = new GoogLeNet(resolveConfig(cfg.model), create, new Map());
  } catch (e) {
    throw new WeightFormatError(`${names.config}: ${(e as Error).message}`, { file: names.config, cause: e });
  }
  let sd: Map<string, StoredTensor>;
  try {
    sd = readSafetensors(weights, names.weights);
  } catch (e) {
    throw new WeightFormatError(`${(e as Error).message} — the weight file is damaged or not safetensors`, {
      file: names.weights,
      cause: e,
    });
  }
  try {
    if (cfg.dtype === 'int8') {
      const { activations: _a, scheme: _s, ...calibration } = cfg.quantization!;
      loadInt8(model, sd, cfg.quantization!, names.weights);
      calibrations.set(model, calibration);
    } else model.loadStateDict(sd, names.weights);
  } catch (e) {
    throw new WeightFormatError(
      `the weight file does not match its config.json (${describeConfig(model.config)}): ${(e as Error).message}`,
      { file: names.weights, cause: e },
    );
  }
  if (cfg.labels) {
    if (cfg.labels.length !== model.config.numClasses) {
      throw new WeightFormatError(`${names.config}: ${cfg.labels.length} labels for a model with ${model.config.numClasses} classes`, {
        file: names.config,
      });
    }
    model.labels = cfg.labels;
  }
  model.preprocess = cfg.preprocess;
  if (typeof cfg.source === 'string') sources.set(model, cfg.source);
  return model;
}

/** What `googlenet export --format web` adds next to the model directory's two files. */
export const WEB_MANIFEST_FORMAT = 'googlenet-ts/web';

/** `manifest.json` of a web export: what a page needs to list a model before downloading it. */
export interface WebManifest {
  format: typeof WEB_MANIFEST_FORMAT;
  version: 1;
  name: string;
  description: string;
  /** False for random-initialization models (the page labels them as untrained). */
  trained: boolean;
  preset: string;
  numClasses: number;
  inChannels: number;
  inputSize: number;
  params: number;
  labels: string[] | null;
  files: { config: string; weights: string; weightsBytes: number };
}

/** The manifest `googlenet export --format web` writes next to the two files. */
export function webManifest(
  model: GoogLeNet,
  o: { name: string; description?: string; trained?: boolean; weightsBytes: number; source?: string },
): WebManifest {
  const c = model.config;
  const trained = o.trained ?? !isUntrainedSource(o.source);
  return {
    format: WEB_MANIFEST_FORMAT,
    version: 1,
    name: o.name,
    description: o.description ?? `GoogLeNet, ${describeConfig(c)}${trained ? '' : ' — untrained (random weights)'}`,
    trained,
    preset: c.preset,
    numClasses: c.numClasses,
    inChannels: c.inChannels,
    inputSize: c.inputSize,
    params: model.numParams(),
    labels: model.labels ?? null,
    files: { config: 'config.json', weights: 'model.safetensors', weightsBytes: o.weightsBytes },
  };
}

/**
 * What `load()`/`loadModel()` take, checked for callers in plain JavaScript: a model directory (a
 * path or URL string, or `{ model }`), `{ weights }` or `{ random: true }`.
 */
export function checkLoadSource(source: unknown): void {
  const ok =
    typeof source === 'string' ||
    (typeof source === 'object' &&
      source !== null &&
      (typeof (source as { model?: unknown }).model === 'string' ||
        typeof (source as { weights?: unknown }).weights === 'string' ||
        (source as { random?: unknown }).random === true));
  if (!ok) {
    throw new OptionError(
      `source: expected a model directory, { model }, { weights: name|URL|file } or { random: true }, received ${describeValue(source)}`,
      { option: 'source' },
    );
  }
}
