import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DatasetFormatError, WeightFormatError } from '../errors.js';
import { MetricsAccumulator, classificationMetrics, formatMetrics, rankOfLabel, softmaxRows } from './metrics.js';
import { checkFiniteLogits } from '../tensor.js';

test('top-1, top-5, errors, per-class accuracy and the confusion matrix of a hand-made case', () => {
  // 4 samples, 6 classes. Rows: scores; labels 0, 1, 2, 5.
  const probs = [
    [0.9, 0.02, 0.02, 0.02, 0.02, 0.02], // label 0: rank 0
    [0.5, 0.3, 0.1, 0.05, 0.03, 0.02], // label 1: rank 1
    [0.3, 0.25, 0.2, 0.15, 0.06, 0.04], // label 2: rank 2
    [0.3, 0.25, 0.2, 0.15, 0.06, 0.04], // label 5: rank 5 (outside the top 5)
  ].flat();
  const m = classificationMetrics(probs, [0, 1, 2, 5], 6, ['a', 'b', 'c', 'd', 'e', 'f']);
  assert.equal(m.n, 4);
  assert.equal(m.top1, 0.25);
  assert.equal(m.top5, 0.75);
  assert.equal(m.error, 0.75);
  assert.equal(m.top5Error, 0.25);
  assert.deepEqual(m.confusion[0], [1, 0, 0, 0, 0, 0]);
  assert.deepEqual(m.confusion[1], [1, 0, 0, 0, 0, 0]);
  assert.deepEqual(m.confusion[5], [1, 0, 0, 0, 0, 0]);
  assert.deepEqual(
    m.perClass.map((c) => c.accuracy),
    [1, 0, 0, null, null, 0],
  );
  assert.deepEqual(
    m.perClass.map((c) => c.n),
    [1, 1, 1, 0, 0, 1],
  );
  const nll = -(Math.log(0.9) + Math.log(0.3) + Math.log(0.2) + Math.log(0.04)) / 4;
  assert.ok(Math.abs(m.loss - nll) < 1e-12);
});

test('ties: the first index wins, as argmax does', () => {
  assert.equal(rankOfLabel([0.5, 0.5], 0, 2, 0), 0);
  assert.equal(rankOfLabel([0.5, 0.5], 0, 2, 1), 1);
  assert.equal(classificationMetrics([0.5, 0.5], [1], 2).top1, 0);
});

test('batches accumulate to the same result as one call', () => {
  const probs = softmaxRows(
    Array.from({ length: 50 }, (_, i) => Math.sin(i * 1.7)),
    10,
    5,
  );
  const labels = [0, 1, 2, 3, 4, 0, 1, 2, 3, 4];
  const acc = new MetricsAccumulator(5);
  acc.add(probs.subarray(0, 20), labels.slice(0, 4));
  acc.add(probs.subarray(20), labels.slice(4));
  assert.deepEqual(acc.result(), classificationMetrics(probs, labels, 5));
});

test('softmax rows sum to 1 and survive large logits', () => {
  const p = softmaxRows([1000, 1000, 0, -5, 3, 2], 2, 3);
  assert.ok(Math.abs(p[0]! - 0.5) < 1e-12 && Math.abs(p[0]! + p[1]! + p[2]! - 1) < 1e-12);
  assert.ok(Math.abs(p[3]! + p[4]! + p[5]! - 1) < 1e-12);
});

test("labels out of range are refused; the report ends with the tutorial's Accuracy of Test Data line", () => {
  assert.throws(() => classificationMetrics([0.5, 0.5], [2], 2), /metrics: label 2 is out of range \[0, 2\)/);
  const text = formatMetrics(classificationMetrics([0.2, 0.8, 0.9, 0.1, 0.3, 0.7], [1, 0, 0], 2, ['cat', 'dog']));
  assert.match(text, /top-1 accuracy: 66\.67%   top-1 error: 33\.33%/);
  assert.match(text, /per-class accuracy:\n\s+0 cat\s+50\.00%  \(2\)\n\s+1 dog\s+100\.00%  \(1\)/);
  assert.match(text, /confusion matrix \(rows: true class, columns: predicted\):/);
  assert.match(text, /\nAccuracy of Test Data: 66\.67%$/);
});

test('non-finite scores are an error, not 100 % top-1; an empty set is an error, not 0.00 % (issue 12)', () => {
  // Before: NaN compares false with everything, so the label ranked first and top-1 was 1.
  assert.throws(() => classificationMetrics([NaN, NaN, NaN], [1], 3), /non-finite logit \(NaN\) for image 1/);
  assert.throws(() => classificationMetrics([0.2, Infinity, 0.1, 0.3, 0.3, 0.4], [0, 2], 3), /non-finite logit \(Infinity\) for image 1/);
  assert.throws(
    () => checkFiniteLogits(new Float32Array([1, 2, 3, -Infinity]), 2, 2),
    (e: unknown) => e instanceof WeightFormatError,
  );
  assert.throws(
    () => new MetricsAccumulator(3).result(),
    (e: unknown) => e instanceof DatasetFormatError && /evaluation set is empty/.test(e.message),
  );
});
