/**
 * `googlenet-ts/advanced`: the machinery under the public API, for code that plugs in its own
 * ONNX Runtime, runs graphs it built with `layers`, or handles the file formats as bytes. Every
 * name is chosen here, one by one, and described in `docs/API.md`; it runs in Node and in browsers
 * alike. Use it beside `googlenet-ts` or `googlenet-ts/browser`, which install the default engine.
 *
 *   import { GraphBuilder, layers } from 'googlenet-ts';
 *   import { getDefaultEngine, initWeights, lowerToOnnx } from 'googlenet-ts/advanced';
 */

// Engines: the ONNX Runtime behind every model, and how to bring your own.
export {
  getDefaultEngine,
  setDefaultEngine,
  engineForDevice,
  ortEngine,
  type Engine,
  type Session,
  type SessionOptions,
  type OrtModule,
  type OrtEngineOptions,
} from './runtime/engine.js';

// The architectures' entries: builder, feature stage, classifier and aux parameters, initialisation, aux loss weight.
export { ARCHITECTURES, type Architecture } from './models/arch.js';

// Graphs to ONNX: fresh weights for a graph's parameters, the ONNX model of a graph.
export { initWeights } from './models/init.js';
export { lowerToOnnx, foldBatchNorm, type Weights, type LowerOptions, type LoweredModel } from './graph/lower.js';

// int8 pieces: one weight to int8 and back, one activation's observed range.
export {
  quantizeWeight,
  dequantizeWeight,
  canSaturate,
  saturationSafe,
  WEIGHT_QMAX,
  SAFE_WEIGHT_QMAX,
  RangeObserver,
  type QuantizedWeight,
  type ActivationQuant,
} from './graph/quantize.js';

// File formats as bytes: safetensors, model directories, the page's model list, weight registries.
export { readSafetensors, parseSafetensors, writeSafetensors, type StoredTensor, type StoredDType } from './weights/safetensors.js';
export {
  MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  WEB_MANIFEST_FORMAT,
  checkModelDirConfig,
  parseModelDirConfig,
  modelDirFiles,
  modelFromFiles,
  fp16Safetensors,
  webManifest,
  type ModelDirFiles,
  type WebManifest,
} from './weights/model-dir.js';
export { parseWeightsRegistry, isWeightsUrl, urlFileName, hashPrefixOf, mirroredUrl } from './weights/registry.js';

// Options as text: the checks options are declared with, and the parser of a flag's value.
export { OPTION_CHECKS, parseOptionText, type Check, type Range } from './checks.js';

// Parity: ‖a − b‖ / ‖b‖, the metric the tests against torchvision use.
export { relativeError } from './tensor.js';
