import * as tf from '@tensorflow/tfjs-core';
import { attention, dropout } from '@fpt/core';
import type { FusionModule } from './module';

/** Options of {@link fuse}. */
export interface FuseOptions {
  /** Apply dropout (training). Default false. */
  training?: boolean;
  /** Seed of the dropout masks. */
  seed?: number;
  /** Index of the first image in the step's whole batch (micro-batches); each image draws its own mask. Default 0. */
  sampleOffset?: number;
}

/**
 * Fine-grained fusion ([fusion module](../../../docs/method.md#fusion-module)), all layers at once. Prompts are the queries; the LPM's own
 * selected keys and values are attended to directly, with no key/value projections.
 *
 * FPT+: Q = heads(LN(P)); C = merge(softmax(Q K^T / sqrt d) V); F = Dropout(out_proj(C + P)).
 * FPT v1: Q = heads(prompt_proj(P)); F = Dropout(out_proj(C)) + P.
 * @param fusion - the module
 * @param keys - selected LPM keys [L, B, H, n, d]
 * @param values - selected LPM values [L, B, H, n, d]
 * @param options - training mode
 * @returns fused prompts [L, B, M, sideDim]
 */
export function fuse(fusion: FusionModule, keys: tf.Tensor, values: tf.Tensor, options: FuseOptions = {}): tf.Tensor {
  const { variant, layers: L, prompts: M, lpmDim: D, lpmHeads: H } = fusion.config;
  if (keys.rank !== 5 || keys.shape[0] !== L || keys.shape[2] !== H || keys.shape[4] !== D / H) {
    throw new Error(`fuse: keys must be [${L}, B, ${H}, n, ${D / H}] (layers, batch, heads, tokens, head dim), got [${keys.shape}]`);
  }
  if (values.rank !== keys.rank || values.shape.some((s, i) => s !== keys.shape[i])) {
    throw new Error(`fuse: values [${values.shape}] must have the shape of keys [${keys.shape}]`);
  }
  const [, B, , n, d] = keys.shape as [number, number, number, number, number]; // rank 5, checked above
  const P = fusion.get('prompts'); // [L, 1, M, Dp]
  const queries = variant.queries(fusion, P, fusion.config);
  // [L, 1, M, D] -> [L, H, M, d] -> broadcast over the batch -> [L*B, H, M, d] (4-D throughout).
  const q = tf.transpose(tf.reshape(queries, [L, M, H, d]), [0, 2, 1, 3]);
  const qb = tf.reshape(tf.tile(tf.reshape(q, [L, 1, H * M * d]), [1, B, 1]), [L * B, H, M, d]);
  const k = tf.reshape(keys, [L * B, H, n, d]);
  const v = tf.reshape(values, [L * B, H, n, d]);
  // core's fused attention: backward keeps q, k, v and the probabilities, not the scores.
  const context = tf.reshape(tf.transpose(attention(qb, k, v, { probs: false }).out, [0, 2, 1, 3]), [L, B, M, D]);
  const drop = (x: tf.Tensor) =>
    dropout(x, fusion.config.dropout, options.training ?? false, options.seed, { axis: 1, offset: options.sampleOffset ?? 0 });
  return variant.output(fusion, context, P, fusion.config, drop);
}
