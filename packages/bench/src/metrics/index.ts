import { aucScore } from './auc';
import { confusionMatrix, macroScores, positiveClassScores, quadraticKappa } from './classification';

export * from './auc';
export * from './classification';
export * from './convention';
export * from './efficiency';

/** Every [metric](../../../../docs/method.md#metrics) of the paper for one evaluation. */
export interface Metrics {
  /** Binary: positive-class AUC; multi-class: macro one-vs-rest AUC (of the scores given: probabilities in {@link evaluate}). */
  auc: number;
  /** Quadratic-weighted Cohen's kappa. */
  kappa: number;
  /** Fraction correct. */
  accuracy: number;
  /** Binary: the positive class's (label 1) F1; multi-class: macro F1. */
  f1: number;
  /** Binary: the positive class's precision; multi-class: macro precision. */
  precision: number;
  /** Binary: the positive class's recall; multi-class: macro recall. */
  recall: number;
}

/** {@link Metrics} of a model's raw outputs: both AUC conventions, and the classes the split lacks. */
export interface LogitMetrics extends Metrics {
  /** `auc` of the softmax probabilities (scikit-learn's convention). */
  auc: number;
  /**
   * The official FPT code's AUC (torcheval on raw logits): binary, the AUC of `logits[:, 1]`;
   * multi-class, the macro one-vs-rest AUC over each class's own logit.
   */
  aucLogits: number;
  /**
   * Classes with no sample among the labels. Both AUCs are NaN then (torcheval scores such a
   * class 0.5 and averages it in; the bench keeps NaN so a mean is never over fewer classes unsaid).
   */
  absentClasses: number[];
}

/**
 * Computes {@link Metrics} from class probabilities; the prediction is the arg-max. F1, precision
 * and recall are the positive class's for two classes (scikit-learn's `average='binary'`), macro
 * otherwise. A NaN among the probabilities (a model whose outputs are not finite) makes every
 * metric NaN: no arg-max or rank is defined for it, and a normal-looking figure would hide the failure.
 * @param labels - true class per sample
 * @param probs - probabilities [N, C], row-major
 * @param classes - C
 */
export function evaluate(labels: ArrayLike<number>, probs: ArrayLike<number>, classes: number): Metrics {
  const n = labels.length;
  if (probs.length !== n * classes) throw new Error(`evaluate: probabilities hold ${probs.length} values, expected ${n} x ${classes}`);
  for (let i = 0; i < probs.length; i++)
    if (Number.isNaN(probs[i])) return { auc: NaN, kappa: NaN, accuracy: NaN, f1: NaN, precision: NaN, recall: NaN };
  const predictions = Array.from({ length: n }, (_, i) => {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[i * classes + c]! > probs[i * classes + best]!) best = c; // in range: N x C checked above
    return best;
  });
  const confusion = confusionMatrix(labels, predictions, classes);
  const scores = classes === 2 ? positiveClassScores(confusion) : macroScores(confusion);
  return { auc: aucScore(labels, probs, classes), kappa: quadraticKappa(confusion), ...scores };
}

/** Row-wise softmax of logits [N, C] in double precision (the largest logit subtracted first). */
export function softmaxRows(logits: ArrayLike<number>, classes: number): Float64Array {
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i += classes) {
    let max = -Infinity;
    // i + c < logits.length: callers pass whole rows of `classes` logits
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[i + c]!);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += out[i + c] = Math.exp(logits[i + c]! - max);
    for (let c = 0; c < classes; c++) out[i + c]! /= sum;
  }
  return out;
}

/**
 * {@link LogitMetrics} of raw logits: everything of {@link evaluate} on their softmax, plus the
 * AUC on the logits themselves (the official code's) and the classes absent from the labels.
 * @param labels - true class per sample
 * @param logits - logits [N, C], row-major
 * @param classes - C
 */
export function evaluateLogits(labels: ArrayLike<number>, logits: ArrayLike<number>, classes: number): LogitMetrics {
  if (logits.length !== labels.length * classes)
    throw new Error(`evaluateLogits: logits hold ${logits.length} values, expected ${labels.length} x ${classes}`);
  const present = new Set(Array.from(labels));
  return {
    ...evaluate(labels, softmaxRows(logits, classes), classes),
    aucLogits: aucScore(labels, logits, classes),
    absentClasses: Array.from({ length: classes }, (_, c) => c).filter((c) => !present.has(c)),
  };
}
