/**
 * Each operation in one place: its shape rule, its cost (multiply-adds) and its ONNX lowering.
 * The training engine adds each operation's gradient beside these (see `src/graph/autodiff.ts`).
 */
import type { Graph, OpKind, OpNode, Pads, Shape } from './ir.js';
import type { OnnxGraphBuilder } from './onnx.js';

/** What a lowering sees: the graph's shapes, the ONNX builder, and where parameters live. */
export interface LowerCtx {
  readonly mode: 'eval' | 'train';
  readonly b: OnnxGraphBuilder;
  shape(value: string): Shape;
  /** ONNX value name of a parameter (a constant initializer or a graph input). */
  param(name: string): string;
  /** Train mode: extra outputs a node produces beside its value (batch-norm statistics). */
  sideOutput(key: string, value: string, dims: number[]): void;
}

export interface OpDef<N extends OpNode> {
  shape(node: N, inputs: Shape[]): Shape;
  /** Multiply-adds per sample (weights × output positions for conv/linear, as torchinfo counts). */
  macs(node: N, inputs: Shape[], out: Shape): number;
  lower(node: N, ctx: LowerCtx): void;
}

type OpTable = { [K in OpKind]: OpDef<Extract<OpNode, { op: K }>> };

/** PyTorch's pooling output size, including its ceil-mode rule that a window must start inside. */
export function poolOutSize(size: number, k: number, s: number, padBefore: number, padAfter: number, ceil: boolean): number {
  const span = size + padBefore + padAfter - k;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= size + padBefore) out--;
  return out;
}

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

function chw(s: Shape, what: string): [number, number, number] {
  if (s.length !== 3) throw new Error(`${what}: expected a C×H×W input, got [${s.join('×')}]`);
  return [s[0]!, s[1]!, s[2]!];
}

function onnxPads(p: Pads): number[] {
  // ONNX order: [top, left, bottom, right] = [x1_begin, x2_begin, x1_end, x2_end]
  return [p[0], p[1], p[2], p[3]];
}

export const OPS: OpTable = {
  conv: {
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
      const ins = [n.input, ctx.param(n.weight)];
      if (n.bias) ins.push(ctx.param(n.bias));
      ctx.b.node('Conv', ins, [n.id], {
        kernel_shape: [...n.kernel],
        strides: [...n.stride],
        pads: onnxPads(n.pads),
      });
    },
  },

  batchnorm: {
    shape: (_n, [x]) => x!,
    macs: () => 0,
    lower(n, ctx) {
      const { b } = ctx;
      if (ctx.mode === 'eval') {
        b.node(
          'BatchNormalization',
          [n.input, ctx.param(n.weight), ctx.param(n.bias), ctx.param(n.runningMean), ctx.param(n.runningVar)],
          [n.id],
          { epsilon: { float: n.eps } },
        );
        return;
      }
      // Train mode, composed from reductions with the textbook variance E[(x − mean)²]
      // (E[x²] − mean² loses precision). Batch statistics normalize; running statistics are
      // updated PyTorch's way (unbiased variance) and returned as side outputs.
      const [c, h, w] = chw(ctx.shape(n.input), n.id);
      const axes = b.constInts('axes_nhw', [0, 2, 3]);
      const mean = b.fresh(`${n.id}.mean`);
      b.node('ReduceMean', [n.input, axes], [mean], { keepdims: 1 });
      const xc = b.fresh(`${n.id}.xc`);
      b.node('Sub', [n.input, mean], [xc]);
      const sq = b.fresh(`${n.id}.sq`);
      b.node('Mul', [xc, xc], [sq]);
      const variance = b.fresh(`${n.id}.var`);
      b.node('ReduceMean', [sq, axes], [variance], { keepdims: 1 });
      const eps = b.constFloats('eps', [], [n.eps]);
      const ve = b.fresh(`${n.id}.vareps`);
      b.node('Add', [variance, eps], [ve]);
      const std = b.fresh(`${n.id}.std`);
      b.node('Sqrt', [ve], [std]);
      const xhat = b.fresh(`${n.id}.xhat`);
      b.node('Div', [xc, std], [xhat]);
      const shape4 = b.constInts('shape_c11', [1, c, 1, 1]);
      const gamma = b.fresh(`${n.id}.gamma`);
      b.node('Reshape', [ctx.param(n.weight), shape4], [gamma]);
      const beta = b.fresh(`${n.id}.beta`);
      b.node('Reshape', [ctx.param(n.bias), shape4], [beta]);
      const scaled = b.fresh(`${n.id}.scaled`);
      b.node('Mul', [xhat, gamma], [scaled]);
      b.node('Add', [scaled, beta], [n.id]);
      // Running statistics: new = (1 − m)·old + m·batch, the variance unbiased by count/(count − 1).
      const flatShape = b.constInts('shape_c', [c]);
      const meanC = b.fresh(`${n.id}.meanC`);
      b.node('Reshape', [mean, flatShape], [meanC]);
      const varC = b.fresh(`${n.id}.varC`);
      b.node('Reshape', [variance, flatShape], [varC]);
      const xShape = b.fresh(`${n.id}.xshape`);
      b.node('Shape', [n.input], [xShape]);
      const nSlice = b.fresh(`${n.id}.n`);
      b.node('Slice', [xShape, b.constInts('s0', [0]), b.constInts('s1', [1])], [nSlice]);
      const nF = b.fresh(`${n.id}.nF`);
      b.node('Cast', [nSlice], [nF], { to: 1 });
      const count = b.fresh(`${n.id}.count`);
      b.node('Mul', [nF, b.constFloats('hw', [1], [h * w])], [count]);
      const countM1 = b.fresh(`${n.id}.countm1`);
      b.node('Sub', [count, b.constFloats('one', [1], [1])], [countM1]);
      const corr = b.fresh(`${n.id}.bessel`);
      b.node('Div', [count, countM1], [corr]);
      const unbiased = b.fresh(`${n.id}.unbiased`);
      b.node('Mul', [varC, corr], [unbiased]);
      const m = n.momentum;
      for (const [stat, batch, key] of [
        [n.runningMean, meanC, `running_mean.${n.scope}`],
        [n.runningVar, unbiased, `running_var.${n.scope}`],
      ] as const) {
        const old = b.fresh(`${key}.old`);
        b.node('Mul', [ctx.param(stat), b.constFloats('keep', [], [1 - m])], [old]);
        const add = b.fresh(`${key}.add`);
        b.node('Mul', [batch, b.constFloats('mom', [], [m])], [add]);
        const out = b.fresh(key);
        b.node('Add', [old, add], [out]);
        ctx.sideOutput(key, out, [c]);
      }
    },
  },

  relu: {
    shape: (_n, [x]) => x!,
    macs: () => 0,
    lower: (n, ctx) => ctx.b.node('Relu', [n.input], [n.id]),
  },

  lrn: {
    shape: (_n, [x]) => x!,
    macs: () => 0,
    lower: (n, ctx) =>
      ctx.b.node('LRN', [n.input], [n.id], {
        size: n.size,
        alpha: { float: n.alpha },
        beta: { float: n.beta },
        bias: { float: n.k },
      }),
  },

  maxpool: {
    shape(n, [x]) {
      const [c, h, w] = chw(x!, n.id);
      return [
        c,
        poolOutSize(h, n.kernel[0], n.stride[0], n.pads[0], n.pads[2], n.ceil),
        poolOutSize(w, n.kernel[1], n.stride[1], n.pads[1], n.pads[3], n.ceil),
      ];
    },
    macs: () => 0,
    lower: (n, ctx) =>
      ctx.b.node('MaxPool', [n.input], [n.id], {
        kernel_shape: [...n.kernel],
        strides: [...n.stride],
        pads: onnxPads(n.pads),
        ceil_mode: n.ceil ? 1 : 0,
      }),
  },

  avgpool: {
    shape(n, [x]) {
      const [c, h, w] = chw(x!, n.id);
      return [
        c,
        poolOutSize(h, n.kernel[0], n.stride[0], n.pads[0], n.pads[2], n.ceil),
        poolOutSize(w, n.kernel[1], n.stride[1], n.pads[1], n.pads[3], n.ceil),
      ];
    },
    macs: () => 0,
    lower: (n, ctx) =>
      ctx.b.node('AveragePool', [n.input], [n.id], {
        kernel_shape: [...n.kernel],
        strides: [...n.stride],
        pads: onnxPads(n.pads),
        ceil_mode: n.ceil ? 1 : 0,
        count_include_pad: n.countIncludePad ? 1 : 0,
      }),
  },

  adaptiveavgpool: {
    shape(n, [x]) {
      const [c] = chw(x!, n.id);
      return [c, n.output[0], n.output[1]];
    },
    macs: () => 0,
    lower(n, ctx) {
      const [c, h, w] = chw(ctx.shape(n.input), n.id);
      const [oh, ow] = n.output;
      const { b } = ctx;
      if (oh === 1 && ow === 1) {
        b.node('GlobalAveragePool', [n.input], [n.id]);
      } else if (h % oh === 0 && w % ow === 0) {
        b.node('AveragePool', [n.input], [n.id], { kernel_shape: [h / oh, w / ow], strides: [h / oh, w / ow] });
      } else {
        // Uneven bins (e.g. 14 → 4: [0,4) [3,7) [7,11) [10,14)) are a fixed linear map: N·C×HW · HW×(oh·ow).
        const flat = b.fresh(`${n.id}.flat`);
        b.node('Reshape', [n.input, b.constInts('shape', [0, c, h * w])], [flat]);
        const mixed = b.fresh(`${n.id}.mixed`);
        b.node('MatMul', [flat, b.constFloats('adaptive_pool', [h * w, oh * ow], adaptivePoolMatrix(h, w, oh, ow))], [mixed]);
        b.node('Reshape', [mixed, b.constInts('shape', [0, c, oh, ow])], [n.id]);
      }
    },
  },

  concat: {
    shape(n, xs) {
      const [, h, w] = chw(xs[0]!, n.id);
      for (const s of xs) {
        if (s[1] !== h || s[2] !== w) throw new Error(`${n.id}: concatenated branches differ in size (${xs.map((x) => x.join('×')).join(', ')})`);
      }
      return [xs.reduce((a, s) => a + s[0]!, 0), h, w];
    },
    macs: () => 0,
    lower: (n, ctx) => ctx.b.node('Concat', n.inputs, [n.id], { axis: 1 }),
  },

  flatten: {
    shape: (_n, [x]) => [prod(x!)],
    macs: () => 0,
    lower: (n, ctx) => ctx.b.node('Flatten', [n.input], [n.id], { axis: 1 }),
  },

  linear: {
    shape: (n) => [n.outFeatures],
    macs: (n, [x]) => prod(x!) * n.outFeatures,
    lower(n, ctx) {
      const ins = [n.input, ctx.param(n.weight)];
      if (n.bias) ins.push(ctx.param(n.bias));
      ctx.b.node('Gemm', ins, [n.id], { transB: 1 });
    },
  },

  dropout: {
    shape: (_n, [x]) => x!,
    macs: () => 0,
    lower(n, ctx) {
      if (ctx.mode === 'eval' || n.p === 0) {
        ctx.b.node('Identity', [n.input], [n.id]);
        return;
      }
      const ratio = ctx.b.constFloats('ratio', [], [n.p]);
      const training = ctx.b.constant('training', { dims: [], dtype: 'bool', data: new Uint8Array([1]) });
      ctx.b.node('Dropout', [n.input, ratio, training], [n.id]);
    },
  },

  affine: {
    shape: (_n, [x]) => x!,
    macs: () => 0,
    lower(n, ctx) {
      const c = n.scale.length;
      const scaled = ctx.b.fresh(`${n.id}.scaled`);
      ctx.b.node('Mul', [n.input, ctx.b.constFloats('scale', [1, c, 1, 1], n.scale)], [scaled]);
      ctx.b.node('Add', [scaled, ctx.b.constFloats('shift', [1, c, 1, 1], n.shift)], [n.id]);
    },
  },
};

/** PyTorch's adaptive average pooling as an HW×(oh·ow) matrix: bin i spans [⌊i·H/oh⌋, ⌈(i+1)·H/oh⌉). */
export function adaptivePoolMatrix(h: number, w: number, oh: number, ow: number): Float32Array {
  const m = new Float32Array(h * w * oh * ow);
  for (let i = 0; i < oh; i++) {
    const y0 = Math.floor((i * h) / oh);
    const y1 = Math.ceil(((i + 1) * h) / oh);
    for (let j = 0; j < ow; j++) {
      const x0 = Math.floor((j * w) / ow);
      const x1 = Math.ceil(((j + 1) * w) / ow);
      const inv = 1 / ((y1 - y0) * (x1 - x0));
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[(y * w + x) * oh * ow + i * ow + j] = inv;
    }
  }
  return m;
}

/** Output shape of a node given the graph's shapes so far. */
export function inferShape(node: OpNode, shapes: Map<string, Shape>): Shape {
  const ins = (node.op === 'concat' ? node.inputs : [node.input]).map((v) => {
    const s = shapes.get(v);
    if (!s) throw new Error(`${node.id}: unknown input value "${v}"`);
    return s;
  });
  const def = OPS[node.op] as OpDef<OpNode>;
  const out = def.shape(node, ins);
  if (out.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new Error(`${node.scope}: output size [${out.join('×')}] is not positive — the input is too small for this network`);
  }
  return out;
}

/** Multiply-adds per sample of one node. */
export function nodeMacs(node: OpNode, g: Graph): number {
  const ins = (node.op === 'concat' ? node.inputs : [node.input]).map((v) => g.shapes.get(v)!);
  return (OPS[node.op] as OpDef<OpNode>).macs(node, ins, g.shapes.get(node.id)!);
}
