// How much of a table's difference is chance. A method's mean AUC is the mean over datasets of its
// per-dataset AUC, each averaged over seeds. The datasets are the same for every method (a fixed
// effect), so what varies from one rerun to the next is the seed: the variance of the mean is
// (1/D²) Σ_d s_d² / n_d, with s_d the standard deviation over the n_d seeds on dataset d. Its
// 95 % interval uses Student's t with Welch–Satterthwaite's degrees of freedom. Two methods are
// distinguishable when the interval of their difference (the variances add: the runs of two
// methods are independent) leaves out 0.
import tQuantile from '@stdlib/stats-base-dists-t-quantile';

/** A mean with its confidence interval. */
export interface Interval {
  /** The estimate. */
  mean: number;
  /** Lower end. */
  low: number;
  /** Upper end. */
  high: number;
  /** Half the interval's width (t quantile × standard error). */
  halfWidth: number;
  /** Welch–Satterthwaite degrees of freedom of the t quantile. */
  df: number;
  /** The confidence level, e.g. 0.95. */
  level: number;
}

/** Arithmetic mean. */
export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Sample standard deviation (n - 1 in the denominator); NaN for fewer than 2 values. */
export function sampleStd(xs: readonly number[]): number {
  if (xs.length < 2) return Number.NaN;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** One dataset's share of a mean's variance: s² / n and its degrees of freedom n - 1. */
interface VarianceTerm {
  variance: number;
  df: number;
}

function terms(perDataset: ReadonlyArray<readonly number[]>): VarianceTerm[] | undefined {
  if (perDataset.length === 0 || perDataset.some((xs) => xs.length < 2 || xs.some((x) => !Number.isFinite(x)))) return undefined;
  const D = perDataset.length;
  return perDataset.map((xs) => ({ variance: sampleStd(xs) ** 2 / xs.length / D ** 2, df: xs.length - 1 }));
}

function interval(estimate: number, parts: VarianceTerm[], level: number): Interval {
  const variance = parts.reduce((a, t) => a + t.variance, 0);
  // Welch–Satterthwaite; with no variance at all (identical seeds) the interval is a point.
  const denominator = parts.reduce((a, t) => a + t.variance ** 2 / t.df, 0);
  const df = denominator > 0 ? variance ** 2 / denominator : parts.reduce((a, t) => a + t.df, 0);
  const halfWidth = variance > 0 ? tQuantile(1 - (1 - level) / 2, df) * Math.sqrt(variance) : 0;
  return { mean: estimate, low: estimate - halfWidth, high: estimate + halfWidth, halfWidth, df, level };
}

/**
 * The confidence interval of a method's mean AUC over datasets, from its per-seed AUCs on each.
 * @param perDataset - for each dataset, the AUC of every seed
 * @param level - confidence level (default 0.95)
 * @returns undefined when some dataset has fewer than 2 seeds or a value that is not finite
 */
export function meanInterval(perDataset: ReadonlyArray<readonly number[]>, level = 0.95): Interval | undefined {
  const parts = terms(perDataset);
  if (!parts) return undefined;
  return interval(mean(perDataset.map(mean)), parts, level);
}

/**
 * The confidence interval of the difference of two methods' mean AUCs (a minus b), over the same
 * datasets in the same order; the methods' runs are independent, so their variances add.
 * @param a - per dataset, the first method's AUC of every seed
 * @param b - the same for the second method
 * @param level - confidence level (default 0.95)
 * @returns undefined when either has fewer than 2 seeds on a dataset or a value that is not finite
 * @throws when the two cover a different number of datasets
 */
export function differenceInterval(
  a: ReadonlyArray<readonly number[]>,
  b: ReadonlyArray<readonly number[]>,
  level = 0.95,
): Interval | undefined {
  if (a.length !== b.length) throw new Error(`differenceInterval: ${a.length} datasets against ${b.length}`);
  const [ta, tb] = [terms(a), terms(b)];
  if (!ta || !tb) return undefined;
  return interval(mean(a.map(mean)) - mean(b.map(mean)), [...ta, ...tb], level);
}

/**
 * The pairs of methods whose mean AUCs are within noise: the interval of their difference holds 0.
 * @param methods - each method's name and per-dataset AUCs over seeds (the same datasets for all)
 * @param level - confidence level (default 0.95)
 * @returns the pairs in the order given, with their difference's interval
 */
export function indistinguishablePairs(
  methods: ReadonlyArray<{ name: string; perDataset: ReadonlyArray<readonly number[]> }>,
  level = 0.95,
): Array<{ a: string; b: string; difference: Interval }> {
  const out: Array<{ a: string; b: string; difference: Interval }> = [];
  methods.forEach((m, i) => {
    for (const n of methods.slice(i + 1)) {
      const difference = differenceInterval(m.perDataset, n.perDataset, level);
      if (difference && difference.low <= 0 && difference.high >= 0) out.push({ a: m.name, b: n.name, difference });
    }
  });
  return out;
}
