/** Outcome of one parity check. */
export type CheckStatus = 'PASS' | 'FAIL' | 'SKIP';

/** One line of `fpt-bench parity`. */
export interface CheckLine {
  /** Outcome. */
  status: CheckStatus;
  /** Fixture file name. */
  fixture: string;
  /** Tensor (or `counts.<key>`) checked. */
  tensor: string;
  /** Largest absolute error (NaN when not computed). */
  maxabs: number;
  /** The absolute tolerance applied. */
  tol: number;
  /** Why it failed or was skipped. */
  note?: string;
}

/** How strictly a tensor is compared (golden README, "Tolerances"). */
export type Tolerance =
  /** |a - e| <= 1e-4. */
  | 'activation'
  /** |a - e| <= max(1e-4, 1e-3 |e|): absolute 1e-4, relative 1e-3 where values exceed 0.1. */
  | 'gradient'
  /** Bit-exact (token indices, counts). */
  | 'exact';

/** The absolute tolerance of activations and gradients. */
export const ABS_TOL = 1e-4;
/** The relative tolerance of gradients whose magnitude exceeds 0.1. */
export const REL_TOL = 1e-3;

/** Array-like numeric data with a shape. */
export interface Numeric {
  /** Dimensions. */
  shape: readonly number[];
  /** Values, row-major. */
  data: ArrayLike<number>;
}

/**
 * Compares a computed tensor with the expected one.
 * @returns whether it passes, the largest absolute error and a note on shape mismatches
 */
export function compare(
  actual: Numeric,
  expected: Numeric,
  tolerance: Tolerance,
): { ok: boolean; maxabs: number; tol: number; note?: string } {
  const tol = tolerance === 'exact' ? 0 : ABS_TOL;
  if (actual.shape.length !== expected.shape.length || actual.shape.some((d, i) => d !== expected.shape[i])) {
    return { ok: false, maxabs: NaN, tol, note: `shape [${actual.shape}] != expected [${expected.shape}]` };
  }
  let maxabs = 0;
  let ok = true;
  for (let i = 0; i < expected.data.length; i++) {
    // Same shape, so i indexes both.
    const e = expected.data[i]!;
    const err = Math.abs(actual.data[i]! - e);
    if (!(err <= maxabs)) maxabs = Number.isNaN(err) ? NaN : Math.max(maxabs, err);
    const allowed = tolerance === 'gradient' ? Math.max(ABS_TOL, REL_TOL * Math.abs(e)) : tol;
    if (!(err <= allowed)) ok = false;
  }
  return { ok, maxabs, tol };
}

/** Formats a line: `PASS|FAIL|SKIP <fixture> <tensor> maxabs=<x> tol=<y>`, plus a note in parentheses. */
export function formatLine(line: CheckLine): string {
  const maxabs = Number.isNaN(line.maxabs) ? 'n/a' : line.maxabs.toExponential(3);
  const base = `${line.status} ${line.fixture} ${line.tensor} maxabs=${maxabs} tol=${line.tol}`;
  return line.note ? `${base} (${line.note})` : base;
}

/** The closing line: `N passed, N failed, N skipped`. */
export function summaryLine(lines: CheckLine[]): string {
  const n = (s: CheckStatus) => lines.filter((l) => l.status === s).length;
  return `${n('PASS')} passed, ${n('FAIL')} failed, ${n('SKIP')} skipped`;
}
