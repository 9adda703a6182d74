/** `googlenet quantize`: int8 post-training static quantization of a model directory, calibrated on a dataset. */
import type { Command } from 'commander';
import { action, floatOption, intOption, log, threadsOption } from './common.js';
import { choiceOption, datasetOption } from './train.js';
import {
  calibrate,
  calibrationBatches,
  CALIBRATION_METHODS,
  type CalibrationMethod,
  data,
  loadModelDir,
  OptionError,
  readModelDirConfig,
  saveModelDir,
} from '../index.js';

interface Flags {
  model: string;
  calibrate: data.DatasetName;
  data?: string;
  split: 'train' | 'test';
  samples: number;
  method: CalibrationMethod;
  percentile: number;
  seed: number;
  threads?: number;
  out: string;
}

export function register(program: Command): void {
  program
    .command('quantize')
    .description('int8 post-training quantization: calibrate activation ranges on a dataset, write an int8 model directory (QDQ)')
    .requiredOption('--model <dir>', 'the float model directory (fp32 or fp16)')
    .requiredOption('--calibrate <dataset>', `calibration images: ${data.DATASET_NAMES.join(', ')}`, datasetOption)
    .option('--data <dir>', "dataset folder (not needed for fashion-mnist-subset, nor fashion-mnist with Debian's dataset-fashion-mnist)")
    .option('--split <split>', 'calibrate on the train or test split', choiceOption('--split', ['train', 'test'] as const), 'train')
    .option('--samples <n>', 'calibration images, drawn by --seed', intOption('--samples'), 500)
    .option(
      '--method <m>',
      `activation ranges: ${CALIBRATION_METHODS.join(', ')}`,
      choiceOption('--method', CALIBRATION_METHODS),
      'percentile',
    )
    .option('--percentile <p>', 'percentile of |x| the percentile method keeps', floatOption('--percentile', 0.5, 1), 0.9999)
    .option('--seed <n>', 'seed of the calibration draw', intOption('--seed', 0), 0)
    .option('--threads <n>', 'ONNX Runtime threads (default: all cores)', threadsOption())
    .requiredOption('-o, --out <dir>', 'the int8 model directory to write')
    .action(
      action(async (f: Flags) => {
        const cfg = readModelDirConfig(f.model);
        if (cfg.dtype === 'int8')
          throw new OptionError(`--model ${f.model}: already int8; quantize its fp32 model directory instead`, { option: '--model' });
        const model = loadModelDir(f.model, f.threads ? { threads: f.threads } : {});
        const dataset = await data.openDataset({ name: f.calibrate, split: f.split, ...(f.data ? { data: f.data } : {}), onWarning: log });
        const t0 = performance.now();
        const batches = calibrationBatches(model, dataset, { samples: f.samples, seed: f.seed });
        const { quantization, report } = await calibrate(model, batches, { method: f.method, percentile: f.percentile });
        model.setQuantization(quantization);
        saveModelDir(model, f.out, {
          ...(cfg.source ? { source: `${cfg.source}; int8` } : {}),
          dtype: 'int8',
          calibration: { ...report, dataset: `${f.calibrate} (${f.split}), seed ${f.seed}` },
        });
        await model.dispose();
        const secs = ((performance.now() - t0) / 1000).toFixed(1);
        log(`calibrated on ${report.samples} ${f.calibrate} images (${f.method}) in ${secs} s; wrote ${f.out} (int8)`);
      }),
    );
}
