import * as tf from '@tensorflow/tfjs-core';
import { bindingLimit, bindingLimitMessage, unitsPerSlice } from './binding-limit';
import { FusedKernel, hasFusedKernel, runFusedKernel } from './fused-kernels';
import { fusedOp, type T } from './fused-op';
import { gradientNeeded } from './optim/grads';

/** Options of {@link attention}. */
export interface AttentionOptions {
  /**
   * Return the probabilities too (default true). Without them nothing of size [B, H, Nq, Nk] is
   * made besides what backward keeps, and on WebGPU the scores can be computed in slices.
   */
  probs?: boolean;
}

/** One slice of the scores: samples-and-heads `[g0, g0 + gn)`, query rows `[r0, r0 + rn)`. */
interface Slice {
  g0: number;
  gn: number;
  r0: number;
  rn: number;
}

/**
 * Scaled dot-product attention over heads: softmax(Q K^T / sqrt(d)) V. One fused op for gradients:
 * backward keeps Q, K, V and the probabilities (as PyTorch does), not the scores or any
 * intermediate. The returned probabilities are values only: no gradient flows through them.
 *
 * On WebGPU, when the scores [B, H, Nq, Nk] would pass the storage-binding limit in force
 * ({@link bindingLimit}; ViT-B/16 at 512 px, batch 16: 770 MiB), they are computed in slices of
 * whole (sample, head) pairs, or of query rows when one pair alone passes it; the outputs and
 * gradients are the slices' put together (softmax is per query row, so the numbers are the same,
 * up to the order of the sums over query rows in the keys' and values' gradients). The
 * probabilities as one tensor cannot then exist: asked for, they are refused with one sentence.
 * @param q - queries [B, H, Nq, d]
 * @param k - keys [B, H, Nk, d]
 * @param v - values [B, H, Nk, d]
 * @param options - whether to return the probabilities
 * @returns the attended values [B, H, Nq, d] and (unless `probs: false`) the probabilities [B, H, Nq, Nk]
 * @throws on WebGPU, when the probabilities are asked for but pass the binding limit, or when one
 *   query row of the scores does
 */
export function attention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, options?: { probs?: true }): { out: tf.Tensor; probs: tf.Tensor };
export function attention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, options: AttentionOptions): { out: tf.Tensor; probs?: tf.Tensor };
export function attention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, options: AttentionOptions = {}): { out: tf.Tensor; probs?: tf.Tensor } {
  const wantProbs = options.probs ?? true;
  const slices = planSlices(q, k, v);
  if (!slices) return whole(q, k, v, wantProbs);
  if (wantProbs) {
    const [nk] = matrixDims(k, 'attention: k');
    const shape = [...q.shape.slice(0, -1), nk];
    const bytes = shape.reduce((a, b) => a * b, 4);
    throw new Error(
      bindingLimitMessage(`attention: the probabilities tensor [${shape}] (pass probs: false to do without it)`, bytes, bindingLimit()!),
    );
  }
  return { out: sliced(q, k, v, slices) };
}

/** The sizes of a tensor's last two axes: the rows and columns of each of its matrices. */
function matrixDims(t: tf.Tensor, what: string): [rows: number, cols: number] {
  if (t.rank < 2) throw new Error(`${what} has shape [${t.shape}], expected [..., rows, columns]`);
  return [t.shape[t.rank - 2]!, t.shape[t.rank - 1]!];
}

/** The slices when the scores pass the binding limit and can be split, else undefined. */
function planSlices(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor): Slice[] | undefined {
  const lead = q.shape.slice(0, -2);
  const [nq] = matrixDims(q, 'attention: q');
  const [nk] = matrixDims(k, 'attention: k');
  // Broadcast leading axes (q [1, H, ...] against k [B, H, ...]) are left whole.
  const sameLead = k.rank === q.rank && v.rank === q.rank && lead.every((s, i) => s === k.shape[i] && s === v.shape[i]);
  const groups = lead.reduce((a, b) => a * b, 1);
  const perGroup = unitsPerSlice(groups, nq * nk * 4);
  if (perGroup === groups || !sameLead) return undefined;
  const slices: Slice[] = [];
  if (perGroup >= 1) {
    for (let g0 = 0; g0 < groups; g0 += perGroup) slices.push({ g0, gn: Math.min(perGroup, groups - g0), r0: 0, rn: nq });
    return slices;
  }
  const perRows = unitsPerSlice(nq, nk * 4);
  if (perRows < 1) throw new Error(bindingLimitMessage(`attention: one query row of the scores [1,1,1,${nk}]`, nk * 4, bindingLimit()!));
  for (let g0 = 0; g0 < groups; g0++)
    for (let r0 = 0; r0 < nq; r0 += perRows) slices.push({ g0, gn: 1, r0, rn: Math.min(perRows, nq - r0) });
  return slices;
}

/** softmax(scale * scores) over the last axis, in one pass where the backend has the fused kernel. */
function scaledSoftmax(scores: tf.Tensor, scale: number): tf.Tensor {
  return hasFusedKernel(FusedKernel.scaledSoftmax, scores)
    ? runFusedKernel(FusedKernel.scaledSoftmax, { x: scores }, { scale })
    : tf.softmax(tf.mul(scores, scale));
}

/** The scores of every (sample, head) at once. */
function whole(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, wantProbs: boolean): { out: tf.Tensor; probs?: tf.Tensor } {
  const scale = 1 / Math.sqrt(matrixDims(q, 'attention: q')[1]);
  let probs: tf.Tensor | undefined;
  const op = fusedOp<[q: T, k: T, v: T], [q: T, k: T, v: T, p: T]>(([q, k, v], save) => {
    const p = scaledSoftmax(tf.matMul(q, k, false, true), scale);
    // Kept: the op's own scope would free it; re-tracked below in the caller's scope.
    if (wantProbs) probs = tf.keep(p);
    save([q, k, v, p]);
    return {
      value: tf.matMul(p, v),
      gradFunc: (dy, [sq, sk, sv, sp]) => {
        const none = () => tf.zeros([]);
        const [dq, dk, dv] = sliceGrads(sq, sk, sv, sp, dy, scale);
        return [dq ?? none(), dk ?? none(), dv ?? none()];
      },
    };
  });
  const out = op(q, k, v);
  if (!probs) return { out };
  const kept = probs;
  probs = tf.clone(kept);
  kept.dispose();
  return { out, probs };
}

/**
 * The gradients of one slice (or of the whole op): undefined for inputs that need none (cached
 * keys and values), so that nothing is computed for them.
 */
function sliceGrads(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  p: tf.Tensor,
  dy: tf.Tensor,
  scale: number,
): [tf.Tensor | undefined, tf.Tensor | undefined, tf.Tensor | undefined] {
  const [nq, nk, nv] = [0, 1, 2].map(gradientNeeded);
  const dv = nv ? tf.matMul(p, dy, true, false) : undefined;
  if (!nq && !nk) return [undefined, undefined, dv];
  const dp = tf.matMul(dy, v, false, true);
  // Softmax backward: p * (dp - sum(dp * p)), then the scale.
  const ds = hasFusedKernel(FusedKernel.softmaxGrad, p, dp)
    ? runFusedKernel(FusedKernel.softmaxGrad, { p, dp }, { scale })
    : tf.mul(tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), -1, true))), scale);
  return [nq ? tf.matMul(ds, k) : undefined, nk ? tf.matMul(ds, q, true, false) : undefined, dv];
}

/** A group's key (or value) gradient so far plus one row slice's contribution. */
function accumulate(sums: Map<number, tf.Tensor>, g0: number, t: tf.Tensor | undefined): tf.Tensor | undefined {
  const before = sums.get(g0);
  return t && before ? tf.add(before, t) : t;
}

/** Puts a group's new sum in place, freeing the one it replaces. */
function replace(sums: Map<number, tf.Tensor>, g0: number, t: tf.Tensor | undefined): void {
  if (!t) return;
  const before = sums.get(g0);
  sums.set(g0, t);
  if (before && before !== t) before.dispose();
}

/** Attention computed slice by slice; each slice's scores and probabilities fit the binding limit. */
function sliced(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, slices: Slice[]): tf.Tensor {
  const [nq, d] = matrixDims(q, 'attention: q');
  const [nk] = matrixDims(k, 'attention: k');
  const [, dvDim] = matrixDims(v, 'attention: v');
  const scale = 1 / Math.sqrt(d);
  const flat = (t: tf.Tensor, rows: number, cols: number) => tf.reshape(t, [-1, rows, cols]);
  const take = (t: tf.Tensor, s: Slice, rows: boolean) =>
    tf.slice(t, [s.g0, rows ? s.r0 : 0, 0], [s.gn, rows ? s.rn : t.shape[1]!, t.shape[2]!]);
  // Slices of one group's query rows are contiguous and in order: rows, then groups, concatenate back.
  const join = (parts: tf.Tensor[]) => {
    const byGroup: tf.Tensor[] = [];
    let i = 0;
    while (i < slices.length) {
      let j = i;
      // i < j <= slices.length, and there is one part per slice.
      while (j < slices.length && slices[j]!.g0 === slices[i]!.g0) j++;
      byGroup.push(j - i === 1 ? parts[i]! : tf.concat(parts.slice(i, j), 1));
      i = j;
    }
    return byGroup.length === 1 ? byGroup[0]! : tf.concat(byGroup, 0);
  };
  const op = fusedOp<[q: T, k: T, v: T], [q: T, k: T, v: T, ...probs: T[]]>(([q, k, v], save) => {
    const [q3, k3, v3] = [flat(q, nq, d), flat(k, nk, d), flat(v, nk, dvDim)];
    const outs: tf.Tensor[] = [];
    const probs: tf.Tensor[] = [];
    for (const s of slices) {
      const { o, p } = tf.tidy(() => {
        const p = tf.softmax(tf.mul(tf.matMul(take(q3, s, true), take(k3, s, false), false, true), scale));
        return { o: tf.matMul(p, take(v3, s, false)), p };
      });
      outs.push(o);
      probs.push(p);
    }
    save([q, k, v, ...probs]);
    return {
      value: tf.reshape(join(outs), [...q.shape.slice(0, -1), dvDim]),
      gradFunc: (dy, [sq, sk, sv, ...sp]) => {
        const [q3, k3, v3, dy3] = [flat(sq, nq, d), flat(sk, nk, d), flat(sv, nk, dvDim), flat(dy, nq, dvDim)];
        const dqs: tf.Tensor[] = [];
        const dks = new Map<number, tf.Tensor>();
        const dvs = new Map<number, tf.Tensor>();
        slices.forEach((s, i) => {
          // One scope per slice: its scores-sized intermediates are freed before the next slice.
          const [dq, dk, dv] = tf.tidy(() => {
            const [dq, dk, dv] = sliceGrads(take(q3, s, true), take(k3, s, false), take(v3, s, false), sp[i]!, take(dy3, s, true), scale); // one saved probability per slice
            return [dq, accumulate(dks, s.g0, dk), accumulate(dvs, s.g0, dv)] as tf.Tensor[];
          });
          if (dq) dqs.push(dq);
          replace(dks, s.g0, dk);
          replace(dvs, s.g0, dv);
        });
        const none = () => tf.zeros([]);
        const grad = (parts: tf.Tensor[], like: tf.Tensor) => (parts.length ? tf.reshape(tf.concat(parts, 0), like.shape) : none());
        return [dqs.length ? tf.reshape(join(dqs), sq.shape) : none(), grad([...dks.values()], sk), grad([...dvs.values()], sv)];
      },
    };
  });
  return op(q, k, v);
}
