/**
 * Typed errors. Every error a user can cause says what was expected, what was found and where
 * (file, option, key); the CLI prints `message` alone on one line and exits 1.
 */
export class GoogLeNetError extends Error {
  override name = 'GoogLeNetError';
}
/** A bad option value or combination (`--preset`, `numClasses`, …). */
export class OptionError extends GoogLeNetError {
  override name = 'OptionError';
}
/** A weight file that is missing, truncated, corrupt, or does not fit the model. */
export class WeightFormatError extends GoogLeNetError {
  override name = 'WeightFormatError';
}
/** A dataset file or folder that is missing or malformed. */
export class DatasetFormatError extends GoogLeNetError {
  override name = 'DatasetFormatError';
}
/** An image that cannot be read or decoded. */
export class ImageError extends GoogLeNetError {
  override name = 'ImageError';
}
/** A file that could not be written (disk full, read-only folder); the previous file is untouched. */
export class FileWriteError extends GoogLeNetError {
  override name = 'FileWriteError';
}
/** A checkpoint that could not be written; the previous checkpoint is untouched. */
export class CheckpointWriteError extends FileWriteError {
  override name = 'CheckpointWriteError';
}
