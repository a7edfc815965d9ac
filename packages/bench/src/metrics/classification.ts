// The confusion matrix lives in @fpt/core (the browser app shows one too); the scores below read it.
import { confusionMatrix } from '@fpt/core';

export { confusionMatrix };

/**
 * Cohen's kappa with quadratic weights (`cohen_kappa_score(weights='quadratic')`): agreement on
 * ordinal grades, where confusing distant grades costs more.
 */
export function quadraticKappa(confusion: number[][]): number {
  const c = squareSize(confusion, 'quadraticKappa');
  const total = confusion.flat().reduce((a, b) => a + b, 0);
  const rows = confusion.map((r) => r.reduce((a, b) => a + b, 0));
  const cols = Array.from({ length: c }, (_, j) => confusion.reduce((a, r) => a + r[j]!, 0)); // square: j < c indexes every row
  let observed = 0;
  let expected = 0;
  for (const [i, row] of confusion.entries()) {
    for (const [j, count] of row.entries()) {
      const w = ((i - j) * (i - j)) / ((c - 1) * (c - 1));
      observed += w * count;
      expected += (w * rows[i]! * cols[j]!) / total; // rows and cols have c entries
    }
  }
  return expected === 0 ? NaN : 1 - observed / expected;
}

/** Accuracy and macro precision, recall and F1 (a class with no predictions scores 0, as sklearn's zero_division=0). */
export function macroScores(confusion: number[][]): { accuracy: number; precision: number; recall: number; f1: number } {
  const c = squareSize(confusion, 'macroScores');
  const total = confusion.flat().reduce((a, b) => a + b, 0);
  let correct = 0;
  let p = 0;
  let r = 0;
  let f = 0;
  for (const [k, row] of confusion.entries()) {
    const tp = row[k]!; // square: k < c
    correct += tp;
    const predicted = confusion.reduce((a, other) => a + other[k]!, 0);
    const actual = row.reduce((a, b) => a + b, 0);
    const precision = predicted ? tp / predicted : 0;
    const recall = actual ? tp / actual : 0;
    p += precision;
    r += recall;
    f += precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  }
  return { accuracy: total ? correct / total : NaN, precision: p / c, recall: r / c, f1: f / c };
}

/**
 * Accuracy and the positive class's (label 1) precision, recall and F1 of a two-class confusion
 * matrix: scikit-learn's default `average='binary'`, and what the official FPT code reports for
 * binary tasks (0 when undefined, as zero_division=0).
 */
export function positiveClassScores(confusion: number[][]): { accuracy: number; precision: number; recall: number; f1: number } {
  if (squareSize(confusion, 'positiveClassScores') !== 2)
    throw new Error(`positiveClassScores: expected a 2 x 2 confusion matrix, got ${confusion.length} classes`);
  const [[tn, fp], [fn, tp]] = confusion as [[number, number], [number, number]];
  const total = tn + fp + fn + tp;
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = tp + fn ? tp / (tp + fn) : 0;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  return { accuracy: total ? (tp + tn) / total : NaN, precision, recall, f1 };
}

/** The number of classes of a square confusion matrix; throws, naming `what`, when a row has another length. */
function squareSize(confusion: number[][], what: string): number {
  const c = confusion.length;
  for (const [i, row] of confusion.entries())
    if (row.length !== c) throw new Error(`${what}: confusion matrix row ${i} has ${row.length} entries, expected ${c} (a square matrix)`);
  return c;
}
