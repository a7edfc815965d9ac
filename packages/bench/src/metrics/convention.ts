import type { LogitMetrics } from './index';

/**
 * Which AUC the table, the best-checkpoint selection and PPE/PME use. Both are recorded in every
 * result; they differ (the probabilities' softmax couples the classes, the logits do not), and the
 * difference can move the selected epoch.
 */
export interface AucConvention {
  /** The `--auc` value. */
  readonly name: 'logits' | 'probabilities';
  /** In words, for table notes and result files. */
  readonly description: string;
  /** The AUC of an evaluation under this convention. */
  of(m: LogitMetrics): number;
}

/** The official FPT code's AUC (torcheval on raw logits; binary `logits[:, 1]`, multi-class macro one-vs-rest per class logit). */
export const LOGIT_AUC: AucConvention = Object.freeze({
  name: 'logits',
  description:
    "AUC on the raw logits, as the official FPT code computes it (torcheval: binary logits[:, 1], multi-class macro one-vs-rest over each class's logit)",
  of: (m: LogitMetrics) => m.aucLogits,
});

/** scikit-learn's AUC on softmax probabilities (`roc_auc_score`, multi-class `ovr`, macro). */
export const PROBABILITY_AUC: AucConvention = Object.freeze({
  name: 'probabilities',
  description: "AUC on the softmax probabilities (scikit-learn's roc_auc_score, multi-class macro one-vs-rest)",
  of: (m: LogitMetrics) => m.auc,
});

/** The conventions by `--auc` name; the official one ({@link LOGIT_AUC}) is the default. */
export const AUC_CONVENTIONS: Readonly<Record<AucConvention['name'], AucConvention>> = Object.freeze({
  logits: LOGIT_AUC,
  probabilities: PROBABILITY_AUC,
});

/**
 * The convention of a `--auc` value.
 * @throws naming the option and the known values
 */
export function aucConvention(name: string, option = '--auc'): AucConvention {
  const c = (AUC_CONVENTIONS as Record<string, AucConvention | undefined>)[name];
  if (!c) throw new Error(`${option} must be ${Object.keys(AUC_CONVENTIONS).join(' or ')}, got "${name}"`);
  return c;
}
