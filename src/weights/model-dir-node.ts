/**
 * Model directories on disk (the format is `model-dir.ts`'s): saving writes both files
 * atomically, loading reads them with the same checks as the browser. Training run folders are
 * model directories too.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describeValue, OptionError, WeightFormatError } from '../errors.js';
import { makeDir, readRegularFile, writeFileAtomic } from '../files-node.js';
import type { GoogLeNetOptions } from '../models/config.js';
import { GoogLeNet, type CreateOptions } from '../models/model.js';
import { loadStateDict } from './formats-node.js';
import {
  modelDirFiles,
  modelFromFiles,
  parseModelDirConfig,
  torchvisionSafetensors,
  type ModelDirConfig,
  type ModelDirExtras,
} from './model-dir.js';
import { readWeightBytes } from './safetensors-node.js';

/** Writes the weights under torchvision's names (PyTorch's `load_state_dict(strict=True)` takes them). */
export function saveTorchvisionSafetensors(model: GoogLeNet, path: string): void {
  writeFileAtomic(path, torchvisionSafetensors(model), { what: 'weights' });
}

/** Writes `dir/config.json` and `dir/model.safetensors`, each atomically. */
export function saveModelDir(model: GoogLeNet, dir: string, extra: ModelDirExtras = {}): void {
  const files = modelDirFiles(model, extra, dir);
  makeDir(dir);
  writeFileAtomic(join(dir, 'model.safetensors'), files['model.safetensors'], { what: 'weights' });
  writeFileAtomic(join(dir, 'config.json'), files['config.json'], { what: 'model config' });
}

export function readModelDirConfig(dir: string): ModelDirConfig {
  if (typeof dir !== 'string')
    throw new OptionError(`model: expected a model directory path, received ${describeValue(dir)}`, { option: 'model' });
  const file = join(dir, 'config.json');
  if (!existsSync(dir)) throw new WeightFormatError(`${dir}: no such model directory`, { file: dir });
  if (!statSync(dir).isDirectory())
    throw new WeightFormatError(`${dir}: not a model directory (expected a folder with config.json and model.safetensors)`, { file: dir });
  if (!existsSync(file)) throw new WeightFormatError(`${file}: missing — not a googlenet-ts model directory`, { file });
  return parseModelDirConfig(
    readRegularFile(file, { what: 'model config', error: WeightFormatError, limit: 'maxJsonBytes' }).toString('utf8'),
    file,
  );
}

/** Loads a model directory: config, labels, preprocessing and weights. */
export function loadModelDir(dir: string, create: CreateOptions = {}): GoogLeNet {
  const cfg = readModelDirConfig(dir);
  const file = join(dir, 'model.safetensors');
  if (!existsSync(file)) throw new WeightFormatError(`${file}: missing — the model directory has no weights`, { file });
  return modelFromFiles(cfg, readWeightBytes(file), { config: join(dir, 'config.json'), weights: file }, create);
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
