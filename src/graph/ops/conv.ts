/**
 * Convolution, and sibling 1×1 convolutions fused into one (the node `fuse.ts` makes).
 */
import { InternalError, OptionError } from '../../errors.js';
import type { ConvNode, SiblingConvNode } from '../ir.js';
import { convInputGrad, convWeightGrad } from './conv-grad.js';
import { nchwcConv, useNchwc } from './conv-nchwc.js';
import { chw, emit, onnxPads, prod, sumNHW } from './shared.js';
import type { ConvLowering, Grads, LowerCtx, OpDef, Saved } from './types.js';

/** The convolution lowering a context asks for instead of ONNX's Conv, if any. */
function customConv(ctx: LowerCtx, n: ConvNode): ConvLowering | undefined {
  const custom = ctx.options?.conv;
  if (!custom && ctx.dtype === 'float64') {
    throw new OptionError(`${n.id}: a float64 convolution needs LoweringOptions.conv (ONNX Runtime's Conv is float32-only)`, {
      option: 'conv',
    });
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
    const [cin] = chw(ctx.shape(n.input), n.id);
    if (useNchwc(ctx, cin, n.kernel, n.stride)) {
      const y = nchwcConv(
        ctx,
        n.input,
        ctx.param(n.weight),
        n.bias ? ctx.param(n.bias) : undefined,
        [n.outChannels, cin, ...n.kernel],
        onnxPads(n.pads),
        `${n.id}.blocked`,
      );
      ctx.b.node('Identity', [y], [n.id]);
      return;
    }
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

/**
 * The fused convolution of a sibling group: the members' weights (and biases) concatenated along
 * output channels, producing `n.id`. The returned context resolves the concatenated weight and
 * bias, which are ONNX values rather than parameters.
 */
function fusedConv(n: SiblingConvNode, ctx: LowerCtx, weight: string, bias: string | undefined): { node: ConvNode; ctx: LowerCtx } {
  const leader = n.members[0]!;
  const outChannels = n.members.reduce((a, m) => a + m.outChannels, 0);
  const node: ConvNode = { ...leader, id: n.id, weight, ...(bias ? { bias } : {}), outChannels };
  return { node, ctx: { ...ctx, param: (p) => (p === weight || p === bias ? p : ctx.param(p)) } };
}

/** Keys under which the fused lowering saves its concatenated weight and bias for the gradient. */
const FUSED_WEIGHT = 'fused.weight';
const FUSED_BIAS = 'fused.bias';

export const siblingconv: OpDef<SiblingConvNode> = {
  shape(n, [x]) {
    const [, h, w] = chw(x!, n.id);
    return [n.members.reduce((a, m) => a + m.outChannels, 0), h, w];
  },
  macs: (_n, [x], out) => prod(out) * x![0]!,
  // N×Cin×H×W → N×(ΣCout)×H×W, split back into the members' values.
  lower(n, ctx) {
    const { b } = ctx;
    const leader = n.members[0]!;
    const cat = (names: string[], hint: string): string => {
      const v = b.fresh(hint);
      b.node(
        'Concat',
        names.map((p) => ctx.param(p)),
        [v],
        { axis: 0 },
      );
      return v;
    };
    const weight = cat(
      n.members.map((m) => m.weight),
      `${leader.id}.fused_weight`,
    );
    const bias = leader.bias
      ? cat(
          n.members.map((m) => m.bias!),
          `${leader.id}.fused_bias`,
        )
      : undefined;
    const fused = fusedConv(n, ctx, weight, bias);
    const saved: Saved = { ...(conv.lower(fused.node, fused.ctx) ?? {}), [FUSED_WEIGHT]: weight };
    if (bias) saved[FUSED_BIAS] = bias;
    b.node(
      'Split',
      [
        n.id,
        b.constInts(
          'split',
          n.members.map((m) => m.outChannels),
        ),
      ],
      n.members.map((m) => m.id),
      { axis: 1 },
    );
    return saved;
  },
  // The members' gradients concatenated are the fused convolution's; its weight and bias
  // gradients split back into the members'.
  backward(n, ctx, args) {
    const { b } = ctx;
    const weight = args.saved[FUSED_WEIGHT];
    if (!weight) throw new InternalError(`${n.id}: the fused convolution's gradient needs the weight its lowering saved`);
    const dy = emit(b, 'Concat', [...args.dys], `${n.members[0]!.id}.fused_dy`, { axis: 1 });
    const fused = fusedConv(n, ctx, weight, args.saved[FUSED_BIAS]);
    const weights = n.members.map((m) => m.weight);
    const biases = n.members.flatMap((m) => (m.bias ? [m.bias] : []));
    const grads = conv.backward(fused.node, fused.ctx, {
      ...args,
      dy,
      dys: [dy],
      needParam: (p) => (p === fused.node.weight ? weights : p === fused.node.bias ? biases : []).some(args.needParam),
    });
    const out: Grads = { inputs: grads.inputs, params: {} };
    const split = (grad: string | undefined, names: string[]): void => {
      if (!grad) return;
      const parts = names.map((p) => b.fresh(`${p}.grad`));
      b.node(
        'Split',
        [
          grad,
          b.constInts(
            'split',
            n.members.map((m) => m.outChannels),
          ),
        ],
        parts,
        { axis: 0 },
      );
      names.forEach((p, k) => (out.params[p] = parts[k]!));
    };
    split(grads.params[fused.node.weight], weights);
    if (fused.node.bias) split(grads.params[fused.node.bias], biases);
    return out;
  },
};
