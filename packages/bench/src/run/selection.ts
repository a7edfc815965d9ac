/**
 * Python's `round(x, digits)`: the double's exact value rounded to `digits` decimals, an exact tie
 * to the even digit (`round(0.125, 2)` is 0.12, where `(0.125).toFixed(2)` is "0.13"). Exact for
 * |x| above 2^-47, where a double's decimal expansion fits `toFixed(100)`.
 */
export function pythonRound(x: number, digits: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  if (x < 0) return -pythonRound(-x, digits);
  const exact = x.toFixed(100);
  const point = exact.indexOf('.');
  const rest = exact.slice(point + 1 + digits);
  // Not an exact tie: toFixed rounds the exact value to the nearest, as Python does.
  if (!/^50*$/.test(rest)) return Number(x.toFixed(digits));
  const kept = exact.slice(0, point + 1 + digits);
  const down = Number(kept);
  return Number(kept.replace('.', '').slice(-1)) % 2 === 0 ? down : Number((down + 10 ** -digits).toFixed(digits));
}

/** Decimals the validation AUC is rounded to before it is compared (the official code's). */
export const SELECTION_DIGITS = 6;

/** The best-checkpoint rule in words, recorded in every result. */
export const SELECTION_RULE = `best validation AUC: an epoch is kept when round(val AUC, ${SELECTION_DIGITS}) > the best so far (starting at 0), as the official code`;

/**
 * The official code's checkpoint rule: an epoch is kept when its validation AUC rounded to 6
 * decimals is strictly greater than the best so far, which starts at 0. A NaN AUC is never kept.
 * @param valAuc - this epoch's validation AUC
 * @param best - the best so far (already rounded; 0 before any epoch is kept)
 * @returns the rounded AUC when the epoch is kept, else undefined
 */
export function selectEpoch(valAuc: number, best: number): number | undefined {
  const rounded = pythonRound(valAuc, SELECTION_DIGITS);
  return rounded > best ? rounded : undefined;
}
