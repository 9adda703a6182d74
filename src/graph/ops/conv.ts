/**
 * Convolution.
 */
import { OptionError } from '../../errors.js';
import type { ConvNode } from '../ir.js';
import { convInputGrad, convWeightGrad } from './conv-grad.js';
import { chw, onnxPads, prod, sumNHW } from './shared.js';
import type { ConvLowering, Grads, LowerCtx, OpDef } from './types.js';

/** The convolution lowering a context asks for instead of ONNX's Conv, if any. */
function customConv(ctx: LowerCtx, n: ConvNode): ConvLowering | undefined {
  const custom = ctx.options?.conv;
  if (!custom && ctx.dtype === 'float64') {
    throw new OptionError(`${n.id}: a float64 convolution needs LoweringOptions.conv (ONNX Runtime's Conv is float32-only)`, { option: 'conv' });
  }
  return custom;
}

export const conv: OpDef<ConvNode> = {
  shape(n, [x]) {
    const [, h, w] = chw(x!, n.id);
    return [
      n.outChannels,
      Math.floor((h + n.pads[0] + n.pads[2] - n.kernel[0]) / n.stride[0]) + 1,
      Math.floor((w + n.pads[1] + n.pads[3] - n.kernel[1]) / n.stride[1]) + 1,
    ];
  },
  macs: (n, [x], out) => prod(out) * x![0]! * n.kernel[0] * n.kernel[1],
  lower(n, ctx) {
    const custom = customConv(ctx, n);
    if (custom) return custom.lower(n, ctx);
    const ins = [n.input, ctx.param(n.weight)];
    if (n.bias) ins.push(ctx.param(n.bias));
    ctx.b.node('Conv', ins, [n.id], {
      kernel_shape: [...n.kernel],
      strides: [...n.stride],
      pads: onnxPads(n.pads),
    });
  },
  // dx: conv with the flipped transposed kernel (stride 1) or ConvTranspose; dW: per-sample
  // GEMMs of dy with the unfolded input, summed over the batch; db: Σ_nhw dy.
  backward(n, ctx, { dy, saved, needInput, needParam }) {
    const g: Grads = { inputs: [undefined], params: {} };
    const custom = customConv(ctx, n);
    if (needInput[0]) g.inputs[0] = custom ? custom.inputGrad(n, ctx, dy) : convInputGrad(n, ctx, dy, ctx.param(n.weight));
    if (needParam(n.weight)) g.params[n.weight] = custom ? custom.weightGrad(n, ctx, dy, saved) : convWeightGrad(n, ctx, dy);
    if (n.bias && needParam(n.bias)) g.params[n.bias] = sumNHW(ctx, dy, `${n.bias}.grad`);
    return g;
  },
};
