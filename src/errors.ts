/**
 * Every error googlenet-ts throws on purpose, in one place.
 *
 * Each class has a stable `code` (for programs: `if (e.code === 'WEIGHT_FORMAT')`), a message
 * that says what was expected, what was found and where, and, when it concerns one, the `file`
 * or `option` by name. The CLI prints `message` alone on one line and exits 1; anything that is
 * not a GoogLeNetError is a bug and is reported as one.
 */
export type ErrorCode =
  | 'OPTION'
  | 'WEIGHT_FORMAT'
  | 'DATASET_FORMAT'
  | 'IMAGE'
  | 'FILE_WRITE'
  | 'CHECKPOINT_WRITE'
  | 'MODEL_LOAD'
  | 'BACKEND'
  | 'TRAINING_DIVERGED'
  | 'CLOSED'
  | 'OVERLOADED'
  | 'TIMEOUT'
  | 'INTERNAL';

/**
 * A value as an error message shows it: `"10"` (a string), `number NaN`, `null`, `an array of 3`,
 * `a Float32Array of 3072`, `an object`. Strings are cut at 40 characters.
 */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of ${'length' in v ? String(v.length) : `${v.byteLength} bytes`}`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'function') return 'a function';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

/** Where an error comes from: the file or the option it concerns, and the underlying error. */
export interface ErrorContext {
  file?: string;
  option?: string;
  cause?: unknown;
}

export class GoogLeNetError extends Error {
  override name = 'GoogLeNetError';
  readonly code: ErrorCode = 'INTERNAL';
  /** The file the error concerns, when there is one. */
  readonly file: string | undefined;
  /** The option (CLI flag or API field) the error concerns, when there is one. */
  readonly option: string | undefined;

  constructor(message: string, context: ErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.file = context.file;
    this.option = context.option;
  }
}

/**
 * A bad option value or combination (`--preset`, `numClasses`, …). It always names the option
 * (`option`: the CLI flag or the API field), so its constructor requires it.
 */
export class OptionError extends GoogLeNetError {
  override name = 'OptionError';
  override readonly code: ErrorCode = 'OPTION';
  declare readonly option: string;

  constructor(message: string, context: ErrorContext & { option: string }) {
    super(message, context);
  }
}
/**
 * A weight file that is missing, truncated, corrupt, does not fit the model, or does not match
 * its published hash (in Node and in the browser alike). It always names the file (`file`: a
 * path, a URL, or what the bytes were called), so its constructor requires it.
 */
export class WeightFormatError extends GoogLeNetError {
  override name = 'WeightFormatError';
  override readonly code: ErrorCode = 'WEIGHT_FORMAT';
  declare readonly file: string;

  constructor(message: string, context: ErrorContext & { file: string }) {
    super(message, context);
  }
}
/** A dataset file or folder that is missing or malformed. */
export class DatasetFormatError extends GoogLeNetError {
  override name = 'DatasetFormatError';
  override readonly code: ErrorCode = 'DATASET_FORMAT';
}
/** An image that cannot be read or decoded. */
export class ImageError extends GoogLeNetError {
  override name = 'ImageError';
  override readonly code: ErrorCode = 'IMAGE';
}
/** A file that could not be written (disk full, read-only folder); the previous file is untouched. */
export class FileWriteError extends GoogLeNetError {
  override name = 'FileWriteError';
  override readonly code: ErrorCode = 'FILE_WRITE';
}
/** A checkpoint that could not be written; the previous checkpoint is untouched. */
export class CheckpointWriteError extends FileWriteError {
  override name = 'CheckpointWriteError';
  override readonly code: ErrorCode = 'CHECKPOINT_WRITE';
}
/** A model (directory, URL) that cannot be fetched or does not hold a model. */
export class ModelLoadError extends GoogLeNetError {
  override name = 'ModelLoadError';
  override readonly code: ErrorCode = 'MODEL_LOAD';
}
/** No execution provider works here (no WebAssembly, no SIMD, wasm files missing, no GPU adapter…). */
export class BackendError extends GoogLeNetError {
  override name = 'BackendError';
  override readonly code: ErrorCode = 'BACKEND';
}
/** The training loss went NaN or infinite. */
export class TrainingDivergedError extends GoogLeNetError {
  override name = 'TrainingDivergedError';
  override readonly code: ErrorCode = 'TRAINING_DIVERGED';
}
/** An object used after its close() or dispose() (a DataLoader, a training step, a session). */
export class ClosedError extends GoogLeNetError {
  override name = 'ClosedError';
  override readonly code: ErrorCode = 'CLOSED';
}
/** Work refused because a queue is full (a server answers 503 with Retry-After): try again later. */
export class OverloadedError extends GoogLeNetError {
  override name = 'OverloadedError';
  override readonly code: ErrorCode = 'OVERLOADED';
}
/** Work that waited longer than its deadline and was dropped unrun (a server answers 504). */
export class TimeoutError extends GoogLeNetError {
  override name = 'TimeoutError';
  override readonly code: ErrorCode = 'TIMEOUT';
}
/**
 * A broken invariant inside googlenet-ts (a graph that does not fit together, an operation
 * without a lowering): never the user's fault, always a bug to report.
 */
export class InternalError extends GoogLeNetError {
  override name = 'InternalError';
}
