import * as tf from '@tensorflow/tfjs-core';
import type { SelectionContext, TokenSelector } from './selectors';

/**
 * How many tokens a ratio keeps: floor(N * ratio), at least 1. A tiny epsilon absorbs float error
 * (1025 * 0.2 is 205.00000000000003 in float64, and 100 * 0.29 is 28.999999999999996).
 * @param n - tokens available
 * @param ratio - fraction to keep, in (0, 1]
 */
export function numKept(n: number, ratio: number): number {
  if (!(ratio > 0 && ratio <= 1)) throw new Error(`token selection "ratio" must be in (0, 1], got ${ratio}`);
  return Math.max(1, Math.floor(n * ratio + 1e-9));
}

/**
 * Gathers per-head tokens: x [B, H, N, d] at indices [B, H, n] -> [B, H, n, d].
 * @param x - keys or values per head
 * @param indices - int32 token indices per sample and head
 */
export function gatherTokens(x: tf.Tensor, indices: tf.Tensor): tf.Tensor {
  return tf.gather(x, indices, 2, 2);
}

/** The important keys and values of one layer. */
export interface SelectedTokens {
  /** Kept token indices [B, H, n] (int32). */
  indices: tf.Tensor;
  /** Keys at those indices [B, H, n, d]. */
  keys: tf.Tensor;
  /** Values at those indices [B, H, n, d]. */
  values: tf.Tensor;
  /** The importance scores [B, H, N], for score-based selectors. */
  scores?: tf.Tensor;
}

/**
 * Selects the important tokens of one layer and gathers their keys and values, independently for
 * every sample and head.
 * @param layer - the layer's keys, values [B, H, N, d] and attention probabilities [B, H, N, N]
 * @param selector - the strategy
 * @param ratio - fraction of tokens to keep (floor(N * ratio))
 * @param context - who the samples are and which layer this is (random strategies use it)
 */
export function selectTokens(
  layer: { keys: tf.Tensor; values: tf.Tensor; probs: tf.Tensor },
  selector: TokenSelector,
  ratio: number,
  context?: SelectionContext,
): SelectedTokens {
  const n = layer.keys.shape[2] as number;
  const { indices, scores } = selector.select(layer.probs, selector.name === 'all' ? n : numKept(n, ratio), context);
  return { indices, keys: gatherTokens(layer.keys, indices), values: gatherTokens(layer.values, indices), scores };
}
