/**
 * Softmax cross-entropy computed directly in JavaScript, in float64 and averaged over rows: a
 * reference for the loss that the training graph computes (`graph/ops/loss.ts`).
 */
export function crossEntropyRef(
  logits: ArrayLike<number>,
  labels: ArrayLike<number | bigint>,
  numClasses: number,
  labelSmoothing = 0,
): number {
  const n = labels.length;
  let total = 0;
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j < numClasses; j++) max = Math.max(max, logits[i * numClasses + j]!);
    let s = 0;
    for (let j = 0; j < numClasses; j++) s += Math.exp(logits[i * numClasses + j]! - max);
    const lse = max + Math.log(s);
    const y = Number(labels[i]!);
    let smooth = 0;
    for (let j = 0; j < numClasses; j++) smooth += lse - logits[i * numClasses + j]!;
    total += (1 - labelSmoothing) * (lse - logits[i * numClasses + y]!) + (labelSmoothing * smooth) / numClasses;
  }
  return total / n;
}
