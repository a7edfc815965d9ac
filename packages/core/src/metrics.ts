/**
 * Area under the ROC curve of scores for a binary task, by the Mann-Whitney statistic with tied
 * scores given their average rank (identical to `sklearn.metrics.roc_auc_score`).
 * @param positive - true when the sample is of the positive class
 * @param scores - the positive-class score per sample
 * @returns the AUC, or NaN when one of the two classes is absent or a score is NaN (a NaN has no
 *   rank: sorting with it would give a finite value that depends on where it sits)
 */
export function binaryAuc(positive: ArrayLike<boolean>, scores: ArrayLike<number>): number {
  const n = scores.length;
  if (positive.length !== n) throw new Error(`binaryAuc: ${positive.length} labels but ${n} scores`);
  const samples = Array.from(scores, (score, i) => ({ score, positive: positive[i] === true }));
  if (samples.some((s) => Number.isNaN(s.score))) return NaN;
  samples.sort((a, b) => a.score - b.score);
  let rankSumPos = 0;
  let nPos = 0;
  // Walk runs of tied scores: every sample of a run gets the run's average (1-based) rank.
  let start = 0;
  let tiedPos = 0;
  samples.forEach((s, i) => {
    if (s.positive) tiedPos++;
    if (i + 1 < n && samples[i + 1]?.score === s.score) return;
    rankSumPos += tiedPos * ((start + i) / 2 + 1);
    nPos += tiedPos;
    start = i + 1;
    tiedPos = 0;
  });
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  return (rankSumPos - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/**
 * The paper's [AUC](../../../docs/method.md#metrics): for two classes the positive-class (label 1) score's AUC; for more, the
 * macro one-vs-rest AUC (`roc_auc_score(..., multi_class='ovr', average='macro')`).
 * @param labels - true class per sample, 0..C-1
 * @param probs - class probabilities, row-major [N, C]
 * @param classes - C
 * @returns the AUC, NaN when it is undefined (a class absent from the labels, a NaN score)
 * @throws when a label is not a class index 0..C-1, or the probabilities are not N x C
 */
export function aucScore(labels: ArrayLike<number>, probs: ArrayLike<number>, classes: number): number {
  const n = labels.length;
  if (probs.length !== n * classes) throw new Error(`aucScore: probabilities hold ${probs.length} values, expected ${n} x ${classes}`);
  Array.from(labels).forEach((y, i) => {
    if (!(Number.isInteger(y) && y >= 0 && y < classes)) throw new Error(`aucScore: label ${y} at ${i} is not in 0..${classes - 1}`);
  });
  const values = Array.from(probs);
  const column = (c: number) => values.filter((_, i) => i % classes === c);
  if (classes === 2)
    return binaryAuc(
      Array.from(labels, (y) => y === 1),
      column(1),
    );
  let sum = 0;
  for (let c = 0; c < classes; c++) {
    const auc = binaryAuc(
      Array.from(labels, (y) => y === c),
      column(c),
    );
    if (Number.isNaN(auc)) return NaN;
    sum += auc;
  }
  return sum / classes;
}

/**
 * The confusion matrix [C, C] (rows: true class, columns: predicted class).
 * @param labels - true class per sample
 * @param predictions - predicted class per sample
 * @param classes - C
 * @throws naming the sample whose label or prediction is not a class index
 */
export function confusionMatrix(labels: ArrayLike<number>, predictions: ArrayLike<number>, classes: number): number[][] {
  if (labels.length !== predictions.length)
    throw new Error(`confusionMatrix: ${labels.length} labels but ${predictions.length} predictions`);
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    const p = predictions[i]!;
    if (!(Number.isInteger(y) && y >= 0 && y < classes)) throw new Error(`confusionMatrix: label ${y} at ${i} is not in 0..${classes - 1}`);
    if (!(Number.isInteger(p) && p >= 0 && p < classes))
      throw new Error(`confusionMatrix: prediction ${p} at ${i} is not in 0..${classes - 1}`);
    m[y]![p]!++; // y and p are checked class indices
  }
  return m;
}
