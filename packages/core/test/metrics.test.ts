// The paper's AUC lives in core (the bench and the browser app use it); the bench's tests check it
// against scikit-learn's fixtures, these check it here on cases worked by hand.
import { describe, expect, it } from 'vitest';
import { aucScore, binaryAuc, confusionMatrix } from '../src/index';

describe('AUC', () => {
  it("binaryAuc: scikit-learn's documented example (0.75) and ties at half rank", () => {
    expect(binaryAuc([false, false, true, true], [0.1, 0.4, 0.35, 0.8])).toBe(0.75);
    expect(binaryAuc([false, true], [0.5, 0.5])).toBe(0.5);
    expect(binaryAuc([true, true], [0.1, 0.2])).toBeNaN();
  });

  it('aucScore: class 1 for two classes, the macro one-vs-rest mean for more', () => {
    // Two classes: only column 1 counts (column 0 would give the opposite ranking).
    expect(aucScore([0, 1, 0, 1], [0, 0.1, 0, 0.9, 9, 0.2, 9, 0.8], 2)).toBe(1);
    // Three classes, each perfectly ranked by its own column: 1.
    expect(aucScore([0, 1, 2], [1, 0, 0, 0, 1, 0, 0, 0, 1], 3)).toBe(1);
    expect(() => aucScore([0, 3], [0, 0, 0, 0, 0, 0], 3)).toThrow('aucScore: label 3 at 1 is not in 0..2');
  });
});

describe('confusionMatrix', () => {
  it('counts true class by row, predicted class by column, and names a bad index', () => {
    expect(confusionMatrix([0, 0, 1, 2, 2], [0, 1, 1, 0, 2], 3)).toEqual([
      [1, 1, 0],
      [0, 1, 0],
      [1, 0, 1],
    ]);
    expect(() => confusionMatrix([0, 1], [0, 3], 3)).toThrow('confusionMatrix: prediction 3 at 1 is not in 0..2');
    expect(() => confusionMatrix([0], [0, 1], 2)).toThrow('confusionMatrix: 1 labels but 2 predictions');
  });
});
