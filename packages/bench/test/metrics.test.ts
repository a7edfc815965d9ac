import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { aucScore, binaryAuc, confusionMatrix, evaluate, macroScores, pme, ppe, quadraticKappa } from '../src/metrics/index';

// Reference values computed by scikit-learn 1.2.1 (roc_auc_score, cohen_kappa_score(weights=
// 'quadratic'), accuracy/f1/precision/recall with average='macro', zero_division=0) on the same data.
const ref = JSON.parse(readFileSync(new URL('./fixtures/sklearn-metrics.json', import.meta.url), 'utf8'));

describe('metrics against scikit-learn', () => {
  it('binary AUC with tied scores', () => {
    expect(aucScore(ref.binary.labels, ref.binary.probs, 2)).toBeCloseTo(ref.binary.auc, 12);
  });

  it('macro one-vs-rest AUC, quadratic kappa, accuracy, macro F1/precision/recall on 5 classes', () => {
    const m = evaluate(ref.multi.labels, ref.multi.probs, 5);
    for (const k of ['auc', 'kappa', 'accuracy', 'f1', 'precision', 'recall'] as const) expect(m[k], k).toBeCloseTo(ref.multi[k], 10);
  });
});

describe('metric edge cases', () => {
  it('perfect and inverted rankings, undefined AUC', () => {
    expect(binaryAuc([false, false, true, true], [0.1, 0.2, 0.3, 0.4])).toBe(1);
    expect(binaryAuc([true, true, false, false], [0.1, 0.2, 0.3, 0.4])).toBe(0);
    expect(binaryAuc([true, false], [0.5, 0.5])).toBe(0.5);
    expect(binaryAuc([true, true], [0.1, 0.2])).toBeNaN();
    expect(aucScore([0, 1, 1], [1, 0, 0, 1, 0, 1, 0, 0, 1], 3)).toBeNaN(); // class 2 absent
    expect(() => aucScore([0, 1], [0.5, 0.5], 2)).toThrow('aucScore: probabilities hold 2 values, expected 2 x 2');
  });

  it('kappa: perfect agreement is 1, chance-level is about 0; bad labels are named', () => {
    expect(quadraticKappa(confusionMatrix([0, 1, 2, 3], [0, 1, 2, 3], 4))).toBe(1);
    expect(
      quadraticKappa([
        [5, 5],
        [5, 5],
      ]),
    ).toBeCloseTo(0, 12);
    expect(() => confusionMatrix([0, 5], [0, 1], 3)).toThrow('confusionMatrix: label 5 at 1 is not in 0..2');
    expect(
      macroScores([
        [2, 0],
        [1, 1],
      ]),
    ).toEqual({ accuracy: 0.75, precision: (2 / 3 + 1) / 2, recall: (1 + 0.5) / 2, f1: (0.8 + 2 / 3) / 2 });
  });

  it('PPE and PME as in the paper', () => {
    expect(ppe(87.12, 1.03)).toBeCloseTo(87.12 * Math.exp(-Math.log10(1.0103)), 12);
    expect(ppe(88.82, 100)).toBeCloseTo(88.82 * Math.exp(-Math.log10(2)), 12);
    expect(pme(87.12, 736, 23128)).toBeCloseTo(87.12 * Math.exp(-Math.log10(736 / 23128 + 1)), 12);
  });
});

describe('reliability round 3: NaN and out-of-range inputs (issue 17 items 18, 21)', () => {
  it('evaluate turns any NaN probability into NaN metrics, not normal-looking ones', () => {
    const labels = [0, 1, 0, 1];
    const allNaN = evaluate(labels, new Array(8).fill(Number.NaN), 2);
    for (const k of ['auc', 'kappa', 'accuracy', 'f1', 'precision', 'recall'] as const) expect(allNaN[k], k).toBeNaN();
    const oneRow = evaluate(labels, [0.9, 0.1, 0.2, 0.8, Number.NaN, Number.NaN, 0.3, 0.7], 2);
    expect(oneRow.auc).toBeNaN();
    expect(oneRow.accuracy).toBeNaN();
  });

  it('binaryAuc gives NaN for a NaN score wherever it sits', () => {
    const positive = [false, true, false, true, true];
    for (let at = 0; at < 5; at++) {
      const scores = [0.1, 0.9, 0.3, 0.7, 0.6];
      scores[at] = Number.NaN;
      expect(binaryAuc(positive, scores), `NaN at ${at}`).toBeNaN();
    }
  });

  it('aucScore refuses a label out of range', () => {
    expect(() => aucScore([0, 2], [0.5, 0.5, 0.5, 0.5], 2)).toThrow('aucScore: label 2 at 1 is not in 0..1');
    expect(() => aucScore([0, -1, 1], new Array(9).fill(1 / 3), 3)).toThrow('aucScore: label -1 at 1 is not in 0..2');
    expect(() => aucScore([0, 0.5], [0.5, 0.5, 0.5, 0.5], 2)).toThrow('aucScore: label 0.5 at 1 is not in 0..1');
  });
});
