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
 * Computes {@link Metrics} from class probabilities; the prediction is the arg-max.
 * @param labels - true class per sample
 * @param probs - probabilities [N, C], row-major
 * @param classes - C
 */
export function evaluate(labels: ArrayLike<number>, probs: ArrayLike<number>, classes: number): Metrics {
  const n = labels.length;
  const predictions = Array.from({ length: n }, (_, i) => {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[i * classes + c] > probs[i * classes + best]) best = c;
    return best;
  });
  const confusion = confusionMatrix(labels, predictions, classes);
  return { auc: aucScore(labels, probs, classes), kappa: quadraticKappa(confusion), ...macroScores(confusion) };
}
