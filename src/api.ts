/**
 * The public API that Node (`googlenet-ts`) and the browser (`googlenet-ts/browser`) share, as
 * one explicit list, name by name. Both entries re-export this module and add their own way to get
 * bytes in (files and sharp in Node; fetch, Blob and canvas in the browser). The machinery under
 * them (engines, ONNX lowering, byte-level formats, quantization pieces) is `googlenet-ts/advanced`
 * (`advanced.ts`). Anything in none of the three is internal and may change without notice.
 * `docs/API.md` describes every name; `test/api.test.ts` holds the two to each other.
 */

// Errors: one class per kind of failure, each with a stable `code`.
export {
  GoogLeNetError,
  OptionError,
  WeightFormatError,
  DatasetFormatError,
  ImageError,
  FileWriteError,
  CheckpointWriteError,
  ModelLoadError,
  BackendError,
  TrainingDivergedError,
  ClosedError,
  OverloadedError,
  TimeoutError,
  InternalError,
  type ErrorCode,
  type ErrorContext,
} from './errors.js';

// Size limits every reader checks before it allocates (README: Limits).
export { DEFAULT_LIMITS, getLimits, setLimits, limitsFromEnv, limitEnvName, type Limits } from './limits.js';

// Tensors: dense row-major arrays with their dimensions (NCHW images, OIHW convolutions).
export { tensor, numel, type Tensor, type TensorArray, type DType } from './tensor.js';

// The networks: configuration, the architecture tables and their builders, the model with its weights and sessions.
export {
  ARCHS,
  PRESETS,
  POOLINGS,
  DEFAULTS,
  INCEPTION_V3_DEFAULTS,
  resolveConfig,
  describeArch,
  archLabel,
  type Arch,
  type Preset,
  type Pooling,
  type ModelOptions,
  type ModelConfig,
  type GoogLeNetOptions,
  type GoogLeNetConfig,
  type InceptionV3Options,
  type InceptionV3Config,
} from './models/config.js';
export { buildGoogLeNet, FEATURE_STAGE, INCEPTION_TABLE, STEM, AUX, scaleChannels } from './models/googlenet.js';
export { buildInceptionV3, INCEPTION_V3_STEM, INCEPTION_V3_TABLE } from './models/inception-v3.js';
export { buildNetwork } from './models/arch.js';
export {
  GoogLeNet,
  type ForwardOutput,
  type ForwardOptions,
  type FeaturesOptions,
  type HeadOptions,
  type PreprocessConfig,
  type CreateOptions,
} from './models/model.js';
export {
  summarize,
  formatSummary,
  compareNaive,
  gapVersusDense,
  formatNaive,
  type LayerRow,
  type Summary,
  type NaiveRow,
} from './models/summary.js';

// Building other networks from the same blocks (googlenet-ts/advanced turns a graph into ONNX).
export * as layers from './layers/index.js';
export { GraphBuilder, Sym } from './graph/builder.js';
export type { Graph, Shape, OpNode, OpKind, ParamSpec } from './graph/ir.js';

// int8 post-training quantization (QDQ) and the weight storage types of model directories.
export { CALIBRATION_METHODS, type CalibrationMethod, type Quantization } from './graph/quantize.js';
export { calibrate, type CalibrateOptions, type CalibrationReport } from './models/quantize.js';
export { MODEL_DTYPES, type ModelDType, type QuantizationConfig } from './weights/quantized.js';

// Images and classification.
export { centerCrop, type RgbImage } from './image/image.js';
export { resize, resizeShorter } from './image/resize.js';
export { IMAGENET_MEAN, IMAGENET_STD, toTensor, type ToTensorOptions } from './image/normalize.js';
export { preprocess, stackBatch, type PreprocessOptions } from './infer/image.js';
export {
  Classifier,
  defaultPreprocess,
  softmax,
  topK,
  type ImageClassifier,
  type Prediction,
  type ImageInput,
} from './infer/classifier.js';
export { FASHION_MNIST_CLASSES, CIFAR10_CLASSES, CIFAR100_CLASSES } from './data/core.js';

// Explaining predictions: Grad-CAM at any feature map, Inception branch activations, heat maps.
export {
  branchModules,
  featureTaps,
  moduleBranches,
  GRADCAM_METHODS,
  type GradCamMethod,
  type BranchSpec,
  type GradCamOptions,
  type GradCamResult,
  type GradCamTarget,
} from './models/gradcam.js';
export {
  branchActivations,
  overlayExplanation,
  viewedRegion,
  type BranchActivation,
  type ExplainOptions,
  type Explanation,
  type ExplanationOverlayOptions,
} from './infer/explain.js';
export { upsampleCam, normalizeCam, overlayCam, jet, type CamMap, type OverlayOptions } from './image/heatmap.js';

// Model directories: how one describes itself (the entries read and write them).
export { describeConfig, isUntrainedSource, modelSource, type ModelDirConfig } from './weights/model-dir.js';

// Named weights: the registry both entries resolve `weights: 'imagenet'` with.
export {
  WEIGHTS,
  IMAGENET_PREPROCESSING,
  INCEPTION_V3_PREPROCESSING,
  weightsEntries,
  weightsNames,
  findWeights,
  registerWeights,
  clearUserWeights,
  type WeightsEntry,
  type WeightsMetrics,
  type WeightsPreprocessing,
} from './weights/registry.js';

// Devices: where a model's sessions run.
export { NODE_DEVICES, BROWSER_DEVICES, DEVICE_HELP, parseDevice, type Device, type ComputeDevice } from './runtime/device.js';

// Training and evaluation: one training step is one ONNX Runtime call.
export {
  createTrainStep,
  type TrainStep,
  type TrainStepOptions,
  type StepOptions,
  type StepResult,
  type OptimizerState,
} from './train/engine.js';
export type { Dataset } from './data/core.js';
export { evaluate, type EvaluateOptions } from './eval/evaluate.js';
export { calibrationBatches, calibrationIndices, type CalibrationBatchOptions } from './eval/calibration.js';
export type { EvalMetrics } from './eval/metrics.js';
