/** `googlenet export`: a model as torchvision safetensors, an ONNX inference graph, or a web bundle. */
import { statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { action, addModelFlags, loadFromFlags, log, type ModelFlags } from './common.js';
import { choiceOption } from './train.js';
import { fp16Safetensors, lowerToOnnx, saturationSafe, webManifest } from '../advanced.js';
import {
  type ModelDType,
  makeDir,
  OptionError,
  readModelDirConfig,
  saveModelDir,
  saveTorchvisionSafetensors,
  writeFileAtomic,
} from '../index.js';

const EXPORT_FORMATS = ['safetensors', 'onnx', 'web'] as const;

interface Flags extends ModelFlags {
  format: string;
  out: string;
  dtype?: ModelDType;
}

export function register(program: Command): void {
  addModelFlags(
    program
      .command('export')
      .description(
        'export a model: safetensors (torchvision names), onnx (inference graph), web (a model directory the browser page loads)',
      ),
  )
    .requiredOption('-o, --out <path>', 'output file (safetensors, onnx) or directory (web)')
    .option('--format <f>', EXPORT_FORMATS.join(', '), 'safetensors')
    .option(
      '--dtype <d>',
      "weights of safetensors and web exports: fp32, fp16 (half the bytes, computed in fp32), int8 (web only, a quantized model); default: the model's own",
      choiceOption('--dtype', ['fp32', 'fp16', 'int8'] as const),
    )
    .action(
      action(async (f: Flags) => {
        if (!(EXPORT_FORMATS as readonly string[]).includes(f.format)) {
          throw new OptionError(`--format: expected one of ${EXPORT_FORMATS.join(', ')}, received "${f.format}"`, { option: '--format' });
        }
        const net = await loadFromFlags(f);
        const m = net.model;
        if (f.format !== 'web') makeDir(dirname(f.out));
        if (f.dtype === 'int8' && (f.format !== 'web' || !m.quantization)) {
          throw new OptionError('--dtype int8: only a quantized model (googlenet quantize) exports as int8, with --format web', {
            option: '--dtype',
          });
        }
        if (f.format === 'safetensors') {
          if (f.dtype === 'fp16') writeFileAtomic(f.out, fp16Safetensors(m), { what: 'weights' });
          else saveTorchvisionSafetensors(m, f.out);
        } else if (f.format === 'onnx') {
          // An int8 model exports its QDQ graph, with ±63 weights: the file may run on any CPU.
          const q = m.quantization && saturationSafe(m.quantization);
          writeFileAtomic(
            f.out,
            lowerToOnnx(m.graph('eval'), { mode: 'eval', weights: m.weights, ...(q ? { quantization: q } : {}) }).bytes,
          );
        } else {
          // The page loads config.json + model.safetensors; manifest.json lets it list the model first.
          const source = f.model ? readModelDirConfig(f.model).source : f.weights ? `imported from ${basename(f.weights)}` : undefined;
          saveModelDir(m, f.out, { ...(source ? { source } : {}), ...(f.dtype ? { dtype: f.dtype } : {}) });
          const manifest = webManifest(m, {
            name: basename(resolve(f.out)),
            weightsBytes: statSync(join(f.out, 'model.safetensors')).size,
            ...(source ? { source } : {}),
          });
          writeFileAtomic(join(f.out, 'manifest.json'), new TextEncoder().encode(JSON.stringify(manifest, null, 2) + '\n'));
        }
        log(`wrote ${f.out} (${f.format})`);
      }),
    );
}
