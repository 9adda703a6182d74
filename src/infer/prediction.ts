/** A class with its probability, and the softmax that gives it (shared by classification and explanations). */

export interface Prediction {
  index: number;
  label: string;
  probability: number;
}

/** Numerically stable softmax of one row. */
export function softmax(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]!);
  const out = new Float64Array(row.length);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += out[i] = Math.exp(row[i]! - max);
  for (let i = 0; i < row.length; i++) out[i]! /= sum;
  return out;
}
