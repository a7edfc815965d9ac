/** How one BatchMatMul maps onto a batch of plain GEMMs. */
export interface MatMulPlan {
  /** Rows of op(a). */
  m: number;
  /** Columns of op(b). */
  n: number;
  /** The shared dimension. */
  k: number;
  /** The output shape: broadcast batch dimensions, then [m, n]. */
  outShape: number[];
  /** Number of output matrices. */
  batch: number;
  /** Per output matrix: the index of its `a` matrix and of its `b` matrix (batch broadcasting). */
  aIndex: Int32Array;
  /** See {@link MatMulPlan.aIndex}. */
  bIndex: Int32Array;
}

/**
 * Plans `matMul(a, b, transposeA, transposeB)` for tensors of any rank >= 2 with NumPy-style
 * broadcasting of the batch dimensions, as tfjs defines it.
 * @throws naming both shapes when the inner dimensions or the batch dimensions do not match
 */
export function planMatMul(aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean): MatMulPlan {
  if (aShape.length < 2 || bShape.length < 2) {
    throw new Error(`BatchMatMul: both operands need rank >= 2, got [${aShape}] and [${bShape}]`);
  }
  const ar = aShape.length;
  const br = bShape.length;
  // Both ranks are at least 2 (checked above): the last two sizes exist.
  const m = transposeA ? aShape[ar - 1]! : aShape[ar - 2]!;
  const kA = transposeA ? aShape[ar - 2]! : aShape[ar - 1]!;
  const kB = transposeB ? bShape[br - 1]! : bShape[br - 2]!;
  const n = transposeB ? bShape[br - 2]! : bShape[br - 1]!;
  if (kA !== kB) {
    throw new Error(
      `BatchMatMul: inner dimensions ${kA} and ${kB} of shapes [${aShape}] and [${bShape}] (transposeA=${transposeA}, transposeB=${transposeB}) must match`,
    );
  }
  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const rank = Math.max(aBatch.length, bBatch.length);
  const pad = (s: number[]): number[] => [...new Array<number>(rank - s.length).fill(1), ...s];
  const aB = pad(aBatch);
  const bB = pad(bBatch);
  const outBatch = aB.map((x, i) => {
    const y = bB[i]!; // both padded to the same rank
    if (x !== y && x !== 1 && y !== 1) {
      throw new Error(`BatchMatMul: batch dimensions of [${aShape}] and [${bShape}] cannot be broadcast`);
    }
    return Math.max(x, y);
  });
  const batch = outBatch.reduce((p, x) => p * x, 1);
  const aIndex = new Int32Array(batch);
  const bIndex = new Int32Array(batch);
  // The output's batch index, counted like an odometer; aB, bB, outBatch and idx all have `rank` entries.
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < batch; o++) {
    let ai = 0;
    let bi = 0;
    for (let d = 0; d < rank; d++) {
      const sa = aB[d]!;
      const sb = bB[d]!;
      ai = ai * sa + (sa === 1 ? 0 : idx[d]!);
      bi = bi * sb + (sb === 1 ? 0 : idx[d]!);
    }
    aIndex[o] = ai;
    bIndex[o] = bi;
    for (let d = rank - 1; d >= 0; d--) {
      const next = idx[d]! + 1;
      if (next < outBatch[d]!) {
        idx[d] = next;
        break;
      }
      idx[d] = 0;
    }
  }
  return { m, n, k: kA, outShape: [...outBatch, m, n], batch, aIndex, bIndex };
}

/**
 * Element offsets for the native kernel: three per output matrix (a, b, c), each added to the
 * given base offsets.
 */
export function gemmOffsets(plan: MatMulPlan, aBase: number, bBase: number, cBase: number): Float64Array {
  const { m, n, k, batch } = plan;
  const out = new Float64Array(3 * batch);
  for (let o = 0; o < batch; o++) {
    out[3 * o] = aBase + plan.aIndex[o]! * m * k; // aIndex and bIndex have one entry per output matrix
    out[3 * o + 1] = bBase + plan.bIndex[o]! * k * n;
    out[3 * o + 2] = cBase + o * m * n;
  }
  return out;
}
