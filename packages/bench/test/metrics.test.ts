import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  aucConvention,
  aucScore,
  binaryAuc,
  confusionMatrix,
  evaluate,
  evaluateLogits,
  LOGIT_AUC,
  macroScores,
  pme,
  positiveClassScores,
  ppe,
  PROBABILITY_AUC,
  quadraticKappa,
} from '../src/metrics/index';
import { pythonRound, selectEpoch } from '../src/run/selection';
import { Rng } from '@fpt/core';

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

/**
 * The official code's AUC by its definition, independently of the bench's rank-sum: over every
 * (positive, negative) pair, 1 when the positive scores higher, 1/2 on a tie, divided by the pairs.
 */
function pairwiseAuc(positive: boolean[], scores: number[]): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (!positive[i]) continue;
    for (let j = 0; j < scores.length; j++) {
      if (positive[j]) continue;
      pairs++;
      wins += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

/** n samples of C classes: labels with every class present, logits rounded to 0.25 so that ties occur. */
function logitSet(seed: number, n: number, C: number): { labels: number[]; logits: number[] } {
  const rng = new Rng(seed);
  const labels = Array.from({ length: n }, (_, i) => (i < C ? i : Math.floor(rng.next() * C)));
  // Logits that lean towards the label, so that the AUC is neither 0.5 nor 1.
  const logits = labels.flatMap((y) => Array.from({ length: C }, (_, c) => Math.round(4 * ((c === y ? 1 : 0) + 2 * rng.next() - 1)) / 4));
  return { labels, logits };
}

describe("the official code's AUC on logits (torcheval)", () => {
  it('binary: the AUC of logits[:, 1] alone, equal to the pairwise count; not the probabilities', () => {
    let differs = 0;
    for (let seed = 0; seed < 20; seed++) {
      const { labels, logits } = logitSet(seed, 40, 2);
      const m = evaluateLogits(labels, logits, 2);
      const logit1 = labels.map((_, i) => logits[2 * i + 1]!); // N x 2 logits
      expect(m.aucLogits).toBeCloseTo(
        pairwiseAuc(
          labels.map((y) => y === 1),
          logit1,
        ),
        12,
      );
      // The probability of class 1 ranks by logit1 - logit0: another AUC.
      const margin = labels.map((_, i) => logits[2 * i + 1]! - logits[2 * i]!);
      expect(m.auc).toBeCloseTo(
        pairwiseAuc(
          labels.map((y) => y === 1),
          margin,
        ),
        12,
      );
      if (Math.abs(m.auc - m.aucLogits) > 1e-9) differs++;
    }
    expect(differs).toBeGreaterThan(10);
  });

  it("multi-class: the macro mean over classes of each class's logit against the rest, equal to the pairwise count", () => {
    let differs = 0;
    for (let seed = 0; seed < 20; seed++) {
      const C = 3 + (seed % 3);
      const { labels, logits } = logitSet(100 + seed, 50, C);
      const m = evaluateLogits(labels, logits, C);
      let sum = 0;
      for (let c = 0; c < C; c++)
        sum += pairwiseAuc(
          labels.map((y) => y === c),
          labels.map((_, i) => logits[i * C + c]!),
        );
      expect(m.aucLogits).toBeCloseTo(sum / C, 12);
      expect(m.absentClasses).toEqual([]);
      if (Math.abs(m.auc - m.aucLogits) > 1e-9) differs++;
    }
    expect(differs).toBeGreaterThan(10);
  });

  it('a class absent from the labels: both AUCs NaN, the class named in absentClasses', () => {
    const m = evaluateLogits([0, 2, 0, 2], [1, 0, 0, 0, 0, 1, 2, 0, 0, 0, 1, 3], 3);
    expect(m.auc).toBeNaN();
    expect(m.aucLogits).toBeNaN();
    expect(m.absentClasses).toEqual([1]);
    expect(() => evaluateLogits([0, 1], [0.5, 0.5], 2)).toThrow('evaluateLogits: logits hold 2 values, expected 2 x 2');
  });

  it('conventions: logits by default, probabilities on request, a wrong name refused', () => {
    const m = evaluateLogits([0, 1, 1, 0], [0, 2, 0, 1, 1, 3, -1, 0], 2);
    expect(LOGIT_AUC.of(m)).toBe(m.aucLogits);
    expect(PROBABILITY_AUC.of(m)).toBe(m.auc);
    expect(aucConvention('probabilities')).toBe(PROBABILITY_AUC);
    expect(() => aucConvention('softmax')).toThrow('--auc must be logits or probabilities, got "softmax"');
  });
});

describe('the official checkpoint rule: round(val AUC, 6) > best, from 0', () => {
  it("rounds as Python's round(): exact ties to even, otherwise the double's exact value", () => {
    expect(pythonRound(0.0078125, 6)).toBe(0.007812); // 1/128: a tie, 2 is even
    expect(pythonRound(0.0234375, 6)).toBe(0.023438); // 3/128: a tie, 7 is odd
    expect(pythonRound(0.125, 2)).toBe(0.12); // where (0.125).toFixed(2) is "0.13"
    expect(pythonRound(0.375, 2)).toBe(0.38);
    expect(pythonRound(2.675, 2)).toBe(2.67); // 2.67499999... exactly
    expect(pythonRound(2.5, 0)).toBe(2);
    expect(pythonRound(0.8123456789, 6)).toBe(0.812346);
    expect(pythonRound(-0.125, 2)).toBe(-0.12);
    expect(pythonRound(Number.NaN, 6)).toBeNaN();
  });

  it('a gain under the sixth decimal keeps the earlier epoch; NaN and 0 are never kept', () => {
    expect(selectEpoch(0.8, 0)).toBe(0.8);
    expect(selectEpoch(0.8000004, 0.8)).toBeUndefined(); // the bench's old rule took this epoch
    expect(selectEpoch(0.8000006, 0.8)).toBe(0.800001);
    expect(selectEpoch(0.8, 0.8)).toBeUndefined(); // strictly greater
    expect(selectEpoch(Number.NaN, 0)).toBeUndefined();
    expect(selectEpoch(0, 0)).toBeUndefined();
    expect(selectEpoch(0.0000004, 0)).toBeUndefined(); // rounds to 0
  });
});

describe('binary F1, precision and recall: the positive class', () => {
  it("equal the positive class's counts (scikit-learn's average='binary'); multi-class stays macro", () => {
    const labels = ref.binary.labels as number[];
    const probs = ref.binary.probs as number[];
    const pred = labels.map((_, i) => (probs[2 * i + 1]! > probs[2 * i]! ? 1 : 0));
    let tp = 0;
    let fp = 0;
    let fn = 0;
    labels.forEach((y, i) => {
      if (pred[i] === 1 && y === 1) tp++;
      if (pred[i] === 1 && y === 0) fp++;
      if (pred[i] === 0 && y === 1) fn++;
    });
    const m = evaluate(labels, probs, 2);
    expect(m.precision).toBeCloseTo(tp / (tp + fp), 12);
    expect(m.recall).toBeCloseTo(tp / (tp + fn), 12);
    expect(m.f1).toBeCloseTo((2 * tp) / (2 * tp + fp + fn), 12);
    const macro = macroScores(confusionMatrix(labels, pred, 2));
    expect(m.f1).not.toBeCloseTo(macro.f1, 6);
    expect(
      positiveClassScores([
        [3, 0],
        [2, 0],
      ]),
    ).toEqual({ accuracy: 0.6, precision: 0, recall: 0, f1: 0 }); // nothing predicted positive: 0, as zero_division=0
    expect(() => positiveClassScores([[1]])).toThrow('positiveClassScores: expected a 2 x 2 confusion matrix, got 1 classes');
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
