/**
 * The project's own model format: one directory holding
 *   config.json        { format, version, model (the full resolved config), labels, preprocess }
 *   model.safetensors  the weights under torchvision's names and layouts
 * so that loading needs no other flags. Training run directories carry these two files too.
 * Writes are atomic (temp file, fsync, rename).
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { WeightFormatError } from '../errors.js';
import { MODEL_FORMAT, MODEL_FORMAT_VERSION, checkModelDirConfig, storedStateDict, type ModelDirConfig } from './model-dir-core.js';
import { defaultPreprocess } from '../infer/classifier.js';
import { resolveConfig, type GoogLeNetOptions } from '../models/config.js';
import { GoogLeNet, type CreateOptions, type PreprocessConfig } from '../models/model.js';
export type { PreprocessConfig };
import { loadStateDict } from './formats.js';
import { loadSafetensorsFile, saveSafetensorsFile, writeFileAtomic } from './safetensors.js';

export { MODEL_FORMAT, MODEL_FORMAT_VERSION, checkModelDirConfig, type ModelDirConfig } from './model-dir-core.js';

// Shared with Classifier (runtime-agnostic), which falls back to it for models without their own.
export { defaultPreprocess };

/** Writes the weights under torchvision's names (PyTorch's `load_state_dict(strict=True)` takes them). */
export function saveTorchvisionSafetensors(model: GoogLeNet, path: string): void {
  saveSafetensorsFile(path, storedStateDict(model), { format: 'pt', producer: 'googlenet-ts' });
}

export function saveModelDir(
  model: GoogLeNet,
  dir: string,
  extra: { labels?: string[] | null; preprocess?: PreprocessConfig; source?: string } = {},
): void {
  mkdirSync(dir, { recursive: true });
  const labels = extra.labels ?? model.labels ?? null;
  if (labels && labels.length !== model.config.numClasses) {
    throw new WeightFormatError(`${dir}: ${labels.length} labels for a model with ${model.config.numClasses} classes`);
  }
  const config: ModelDirConfig = {
    format: MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    model: model.config,
    labels,
    preprocess: extra.preprocess ?? model.preprocess ?? defaultPreprocess(model.config),
    ...(extra.source ? { source: extra.source } : {}),
  };
  saveTorchvisionSafetensors(model, join(dir, 'model.safetensors'));
  writeFileAtomic(join(dir, 'config.json'), new TextEncoder().encode(JSON.stringify(config, null, 2) + '\n'));
}

export function readModelDirConfig(dir: string): ModelDirConfig {
  const file = join(dir, 'config.json');
  if (!existsSync(dir)) throw new WeightFormatError(`${dir}: no such model directory`);
  if (!statSync(dir).isDirectory()) throw new WeightFormatError(`${dir}: not a model directory (expected a folder with config.json and model.safetensors)`);
  if (!existsSync(file)) throw new WeightFormatError(`${file}: missing — not a googlenet-ts model directory`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new WeightFormatError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return checkModelDirConfig(raw, file);
}

/** Loads a model directory: config, labels, preprocessing and weights. */
export function loadModelDir(dir: string, create: CreateOptions = {}): GoogLeNet {
  const cfg = readModelDirConfig(dir);
  let model: GoogLeNet;
  try {
    model = new GoogLeNet(resolveConfig(cfg.model), create, new Map());
  } catch (e) {
    throw new WeightFormatError(`${join(dir, 'config.json')}: ${(e as Error).message}`);
  }
  const file = join(dir, 'model.safetensors');
  if (!existsSync(file)) throw new WeightFormatError(`${file}: missing — the model directory has no weights`);
  model.loadStateDict(loadSafetensorsFile(file), file);
  if (cfg.labels) model.labels = cfg.labels;
  model.preprocess = cfg.preprocess;
  return model;
}

/**
 * Builds a model for a torchvision state dict (`.pth` or `.safetensors`). The file's aux keys are
 * used when `auxLogits` is on and ignored otherwise.
 */
export function importWeights(file: string, options: GoogLeNetOptions, create: CreateOptions = {}): GoogLeNet {
  const sd = loadStateDict(file);
  const model = new GoogLeNet(options, create, new Map());
  model.loadStateDict(sd, file);
  return model;
}
