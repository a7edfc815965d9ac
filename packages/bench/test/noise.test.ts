import { describe, expect, it } from 'vitest';
import { differenceInterval, indistinguishablePairs, mean, meanInterval, sampleStd } from '../src/results/noise';

// Three datasets, three seeds each (test AUC, %).
const A = [
  [70.1, 68.5, 72.3],
  [55.0, 58.2, 54.1],
  [80.0, 79.5, 81.2],
];
const B = [
  [69.0, 71.0, 70.5],
  [52.0, 50.5, 57.0],
  [78.0, 80.5, 79.0],
];

describe('the quick preset noise (issue 22): mean, std and 95 % intervals', () => {
  it('matches an independent computation with SciPy', () => {
    // Reference, computed with NumPy/SciPy 1.17 (python3, 2026-12-02):
    //   var = sum over datasets of np.var(x, ddof=1) / len(x) / D**2; Welch-Satterthwaite df;
    //   half width = scipy.stats.t.ppf(0.975, df) * sqrt(var)
    const a = meanInterval(A)!;
    expect(a.mean).toBeCloseTo(68.76666666666667, 10);
    expect(a.low).toBeCloseTo(67.24164451747731, 9);
    expect(a.high).toBeCloseTo(70.29168881585602, 9);
    expect(a.df).toBeCloseTo(4.624789583826477, 9);
    const d = differenceInterval(A, B)!;
    expect(d.mean).toBeCloseTo(1.2666666666666657, 10);
    expect(d.low).toBeCloseTo(-0.9831096582940924, 9);
    expect(d.high).toBeCloseTo(3.516442991627424, 9);
    expect(d.df).toBeCloseTo(6.265444279967927, 9);
    expect(sampleStd([1, 2, 3, 4])).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(mean([1, 2, 6])).toBe(3);
  });

  it('covers the true mean about 95 % of the time (simulated seeds)', () => {
    // A seeded normal generator (Box-Muller on a linear congruential stream): the test is deterministic.
    let state = 12345;
    const uniform = () => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return (state + 0.5) / 2 ** 32;
    };
    const normal = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    const truth = [60, 75, 50];
    const sd = [3, 1, 5];
    let covered = 0;
    const trials = 4000;
    for (let t = 0; t < trials; t++) {
      const perDataset = truth.map((m, d) => [0, 1, 2].map(() => m + sd[d]! * normal()));
      const i = meanInterval(perDataset)!;
      if (i.low <= mean(truth) && mean(truth) <= i.high) covered++;
    }
    // Welch-Satterthwaite is approximate: a few tenths of a percent either way.
    expect(covered / trials).toBeGreaterThan(0.93);
    expect(covered / trials).toBeLessThan(0.975);
  });

  it('says which pairs are within noise, and nothing for a single seed or a NaN', () => {
    const far = A.map((xs) => xs.map((x) => x + 20));
    const pairs = indistinguishablePairs([
      { name: 'a', perDataset: A },
      { name: 'b', perDataset: B },
      { name: 'far', perDataset: far },
    ]);
    expect(pairs.map((p) => `${p.a}~${p.b}`)).toEqual(['a~b']);
    expect(meanInterval([[70], [60]])).toBeUndefined();
    expect(meanInterval([[70, Number.NaN, 71]])).toBeUndefined();
    expect(meanInterval([[70, 70, 70]])).toEqual({ mean: 70, low: 70, high: 70, halfWidth: 0, df: 2, level: 0.95 });
    expect(() => differenceInterval(A, B.slice(1))).toThrow('differenceInterval: 3 datasets against 2');
  });
});
