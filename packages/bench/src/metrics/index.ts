import { aucScore } from './auc';
import { confusionMatrix, macroScores, quadraticKappa } from './classification';

export * from './auc';
export * from './classification';
export * from './efficiency';

/** Every [metric](../../../../docs/method.md#metrics) of the paper for one evaluation. */
export interface Metrics {
  /** Binary: positive-class AUC; multi-class: macro one-vs-rest AUC. */
  auc: number;
  /** Quadratic-weighted Cohen's kappa. */
  kappa: number;
  /** Fraction correct. */
  accuracy: number;
  /** Macro F1. */
  f1: number;
  /** Macro precision. */
  precision: number;
  /** Macro recall. */
  recall: number;
}

/**
 * Computes {@link Metrics} from class probabilities; the prediction is the arg-max. A NaN among
 * the probabilities (a model whose outputs are not finite) makes every metric NaN: no arg-max or
 * rank is defined for it, and a normal-looking figure would hide the failure.
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
    for (let c = 1; c < classes; c++) if (probs[i * classes + c] > probs[i * classes + best]) best = c;
    return best;
  });
  const confusion = confusionMatrix(labels, predictions, classes);
  return { auc: aucScore(labels, probs, classes), kappa: quadraticKappa(confusion), ...macroScores(confusion) };
}
