/**
 * Softmax cross-entropy as ONNX nodes, with its gradient in closed form: for logits z (N×K),
 * labels y and label smoothing ε, the target is t = (1 − ε)·onehot(y) + ε/K and
 *
 *   loss = mean_n −Σ_k t_nk · log softmax(z_n)_k        (PyTorch's `cross_entropy(label_smoothing=ε)`)
 *   ∂loss/∂z = (softmax(z) − t) / N
 *
 * The training graph weights each head's loss (main + auxWeight·(aux1 + aux2)) and seeds the
 * backward pass with the weighted gradients.
 */
import type { OnnxGraphBuilder } from '../onnx.js';
import type { FloatType } from './types.js';

export interface CrossEntropyOptions {
  numClasses: number;
  /** ε in [0, 1): the target puts 1 − ε on the label and ε spread over all classes. Default 0. */
  labelSmoothing?: number;
  /** Factor on this term's gradient (an aux head's weight). Default 1. */
  weight?: number;
  /** Element type of the logits. Default 'float32'. */
  dtype?: FloatType;
  /** Also count the correct top-1 predictions. Default false. */
  accuracy?: boolean;
}

export interface CrossEntropyValues {
  /** Scalar: the batch-mean loss of this head (unweighted). */
  loss: string;
  /** N×K: weight · ∂loss/∂logits. */
  grad: string;
  /** int64 scalar: how many rows' argmax equals the label (with `accuracy`). */
  correct?: string;
}

/**
 * Emits the loss of `logits` (N×K) against int64 `labels` (N) and its gradient. `hint` prefixes
 * the value names (`main`, `aux1`, …).
 */
export function softmaxCrossEntropy(
  b: OnnxGraphBuilder,
  logits: string,
  labels: string,
  hint: string,
  o: CrossEntropyOptions,
): CrossEntropyValues {
  const k = o.numClasses;
  const eps = o.labelSmoothing ?? 0;
  const w = o.weight ?? 1;
  const f64 = o.dtype === 'float64';
  const fc = (name: string, dims: number[], v: number[]): string =>
    f64 ? b.constant(name, { dims, dtype: 'float64', data: Float64Array.from(v) }) : b.constFloats(name, dims, v);
  const emit = (op: string, ins: string[], name: string, attrs?: Parameters<OnnxGraphBuilder['node']>[3]): string => {
    const out = b.fresh(`${hint}.${name}`);
    b.node(op, ins, [out], attrs);
    return out;
  };

  const logp = emit('LogSoftmax', [logits], 'logp', { axis: 1 });
  const classes = b.constInts(
    'classes',
    Array.from({ length: k }, (_, i) => i),
  );
  const col = emit('Unsqueeze', [labels, b.constInts('axes', [1])], 'labels_col');
  let target = emit('Cast', [emit('Equal', [col, classes], 'onehot_b')], 'onehot', { to: f64 ? 11 : 1 });
  if (eps > 0) target = emit('Add', [emit('Mul', [target, fc('keep', [], [1 - eps])], 'onehot_s'), fc('spread', [], [eps / k])], 'target');
  const perSample = emit('ReduceSum', [emit('Mul', [target, logp], 'tlogp'), b.constInts('axes', [1])], 'nll_neg', { keepdims: 0 });
  const loss = emit('Neg', [emit('ReduceMean', [perSample, b.constInts('axes', [0])], 'mean_neg', { keepdims: 0 })], 'loss');

  // (softmax − t)·w/N, N read from the batch at run time.
  const n = emit(
    'Cast',
    [
      emit(
        'Gather',
        [emit('Shape', [logits], 'shape'), b.constant('zero', { dims: [], dtype: 'int64', data: BigInt64Array.of(0n) })],
        'n',
        { axis: 0 },
      ),
    ],
    'nf',
    { to: f64 ? 11 : 1 },
  );
  const scale = emit('Div', [fc('w', [], [w]), n], 'scale');
  const grad = emit('Mul', [emit('Sub', [emit('Exp', [logp], 'softmax'), target], 'residual'), scale], 'grad');

  const out: CrossEntropyValues = { loss, grad };
  if (o.accuracy) {
    const pred = emit('ArgMax', [logits], 'pred', { axis: 1, keepdims: 0 });
    const hit = emit('Cast', [emit('Equal', [pred, labels], 'hit_b')], 'hit', { to: 7 });
    out.correct = emit('ReduceSum', [hit, b.constInts('axes', [0])], 'correct', { keepdims: 0 });
  }
  return out;
}
