/**
 * `googlenet eval`: top-1/top-5 (and errors), per-class accuracy and the confusion matrix of a
 * model — or of an ensemble of several `--model`s (softmax averaged) — on a dataset's test split,
 * with 1, 10 or 144 crops per image. Ends with the "Accuracy of Test Data: X%" line of the PyTorch CIFAR-10 tutorial.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { basename, join, resolve } from 'node:path';
import {
  action,
  ARCH_HELP,
  archFromFlags,
  archOption,
  CLI_DOWNLOAD,
  DEVICE_HELP_LINE,
  deviceFromFlags,
  deviceOption,
  intOption,
  log,
  numClassesOption,
  presetOption,
  printJson,
  threadsOption,
  WEIGHTS_HELP,
} from './common.js';
import { choiceOption, datasetOption } from './train.js';
import {
  type Arch,
  data,
  CROP_COUNTS,
  type CropCount,
  type Device,
  evaluate,
  formatMetrics,
  type GoogLeNet,
  imagenetWnids,
  isCropCount,
  loadModel,
  loadModelDir,
  OptionError,
  type Preset,
  writeEvalFiles,
} from '../index.js';

interface Flags {
  model: string[];
  weights?: string;
  arch?: Arch;
  preset?: Preset;
  numClasses?: number;
  transformInput?: boolean;
  dataset: data.DatasetName;
  data?: string;
  valData?: string;
  split: 'train' | 'test';
  limitTest?: number;
  crops: CropCount;
  batchSize?: number;
  threads?: number;
  device?: Device;
  out?: string;
  files: boolean;
  json: boolean;
}

function cropsOption(v: string): CropCount {
  const n = Number(v);
  if (!isCropCount(n)) throw new InvalidArgumentError(`--crops expects one of ${CROP_COUNTS.join(', ')}, received "${v}"`);
  return n;
}

export function register(program: Command): void {
  program
    .command('eval')
    .description('evaluate a model (or an ensemble) on a dataset: top-1/top-5, per-class accuracy, confusion matrix')
    .option(
      '--model <dir>',
      'a model directory or training run folder; repeat for an ensemble (softmax averaged)',
      (v: string, prev: string[] = []) => [...prev, v],
      [],
    )
    .option('--weights <name|url|file>', `${WEIGHTS_HELP}; joins the --model ensemble`)
    .option('--arch <name>', `${ARCH_HELP} of --weights (default: the named weights', the file's keys, else googlenet)`, archOption)
    .option('--preset <name>', "GoogLeNet's preset of a --weights file (default: the named weights', else torchvision)", presetOption)
    .option('--num-classes <n>', "classes of a --weights file (default: the named weights', else 1000)", numClassesOption('--num-classes'))
    .option('--transform-input', "a --weights file uses torchvision's transform_input (imagenet does)")
    .option('--no-transform-input', 'turn transform_input off even for named weights that use it')
    .requiredOption('--dataset <name>', data.DATASET_NAMES.join(', '), datasetOption)
    .option(
      '--data <dir>',
      "dataset folder (not needed for fashion-mnist-subset, nor fashion-mnist when Debian's dataset-fashion-mnist is installed)",
    )
    .option('--val-data <dir>', 'folder datasets: the validation folder')
    .option('--split <split>', 'train or test', choiceOption('--split', ['train', 'test'] as const), 'test')
    .option('--limit-test <n>', 'evaluate the first N images only', intOption('--limit-test'))
    .option(
      '--crops <n>',
      'views per image: 1 (centre), 10 (corners + centre, mirrored), 144 (paper: 4 scales × 3 squares × 6 crops × mirror)',
      cropsOption,
      1,
    )
    .option('--batch-size <n>', 'images per forward pass', intOption('--batch-size'))
    .option('--threads <n>', 'ONNX Runtime threads (default: all cores)', threadsOption())
    .option('--device <name>', DEVICE_HELP_LINE, deviceOption)
    .option('--out <dir>', 'where eval.json and confusion.{json,svg,png} go (default runs/eval/<model>-<dataset>)')
    .option('--no-files', 'write no files, print only')
    .option('--json', 'print one JSON object (top1, top5 as fractions in [0, 1])', false)
    .action(
      action(async (f: Flags) => {
        const models = await loadModels(f);
        const names = [...f.model, ...(f.weights ? [f.weights] : [])];
        const dataset = await data.openDataset({
          name: f.dataset,
          split: f.split,
          ...(f.data ? { data: f.data } : {}),
          ...(f.valData ? { valData: f.valData } : {}),
          ...(f.dataset === 'folder' ? await wnidClasses(models[0]!, f) : {}),
          onWarning: log,
        });
        const t0 = performance.now();
        const total = Math.min(dataset.size, f.limitTest ?? Infinity);
        let lastLog = 0;
        const m = await evaluate(models, dataset, {
          crops: f.crops,
          onWarning: log,
          ...(f.limitTest ? { limit: f.limitTest } : {}),
          ...(f.batchSize ? { batchSize: f.batchSize } : {}),
          onProgress: (done) => {
            const t = performance.now();
            if (t - lastLog > 5000 && done < total) {
              lastLog = t;
              log(`evaluated ${done}/${total} images`);
            }
          },
        });
        const seconds = (performance.now() - t0) / 1000;
        await Promise.all(models.map((x) => x.dispose()));
        let files: string[] = [];
        if (f.files) {
          const out = resolve(
            f.out ??
              join(
                'runs',
                'eval',
                `${basename(resolve(names[0]!))}${names.length > 1 ? `+${names.length - 1}` : ''}-${f.dataset}${f.crops > 1 ? `-${f.crops}crops` : ''}`,
              ),
          );
          const title = `${names.map((d) => basename(resolve(d))).join(' + ')} on ${f.dataset} ${f.split}${f.crops > 1 ? `, ${f.crops} crops` : ''}`;
          files = [join(out, 'eval.json'), ...(await writeEvalFiles(out, m, title))];
        }
        if (f.json) {
          printJson({ models: names, dataset: f.dataset, split: f.split, crops: f.crops, ...m, seconds, files });
          return;
        }
        process.stdout.write(
          `${names.length > 1 ? `ensemble of ${names.length} models` : f.model[0]} on ${f.dataset} (${f.split}), ${f.crops} crop${f.crops > 1 ? 's' : ''} per image, ${seconds.toFixed(1)} s\n`,
        );
        process.stdout.write(formatMetrics(m) + '\n');
        if (files.length) log(`wrote ${files.join(', ')}`);
      }),
    );
}

/** The `--model` directories and the `--weights` model, in that order. */
async function loadModels(f: Flags): Promise<GoogLeNet[]> {
  const create = { ...(f.threads ? { threads: f.threads } : {}), ...(await deviceFromFlags(f.device)) };
  const models: GoogLeNet[] = f.model.map((dir) => loadModelDir(dir, create));
  if (f.weights) {
    const source = {
      weights: f.weights,
      ...archFromFlags(f),
      ...(f.numClasses !== undefined ? { numClasses: f.numClasses } : {}),
      ...(f.transformInput !== undefined ? { transformInput: f.transformInput } : {}),
      download: CLI_DOWNLOAD,
    };
    models.push(await loadModel(source, create));
  }
  if (!models.length) throw new OptionError('no model: pass --model DIR (repeatable) or --weights NAME|URL|FILE', { option: '--model' });
  return models;
}

/**
 * ImageNet folders (`ILSVRC2012/val/n01440764/…`): a 1000-class model's logit i is the i-th
 * WordNet id in torchvision's order, so folders are indexed by that list rather than by the
 * folders present (a subset of the classes would otherwise shift every label).
 */
async function wnidClasses(model: GoogLeNet, f: Flags): Promise<{ classes?: string[] }> {
  if (model.config.numClasses !== 1000 || !f.data) return {};
  const root = (await data.resolveFolderSplit(f.data, f.split, f.valData))?.root;
  if (!root) return {};
  const folders = await data.listClassFolders(root);
  if (!folders.length || !folders.every((c) => /^n\d{8}$/.test(c))) return {};
  const wnids = imagenetWnids();
  const known = new Set(wnids);
  const stray = folders.filter((c) => !known.has(c));
  if (stray.length)
    throw new OptionError(`--data ${root}: ${stray.length} folder(s) are not ImageNet-1K WordNet ids (${stray.slice(0, 3).join(', ')}…)`, {
      option: '--data',
    });
  log(`ImageNet folders: ${folders.length} WordNet-id classes mapped to torchvision's 1000-class order`);
  return { classes: wnids };
}
