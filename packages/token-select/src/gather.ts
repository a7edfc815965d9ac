import { dims } from '@fpt/core';
import * as tf from '@tensorflow/tfjs-core';
import type { SelectContext, TokenSelector } from './selectors';

/**
 * Gathers per-head tokens: x [B, H, N, d] at indices [B, H, n] -> [B, H, n, d].
 * @param x - keys or values per head
 * @param indices - int32 token indices per sample and head
 */
export function gatherTokens(x: tf.Tensor, indices: tf.Tensor): tf.Tensor {
  // One flat gather over [B * H * N, d] rather than tf.gather(x, indices, 2, 2): the WASM backend's
  // Gather with batch dimensions reads out of bounds and aborts the process (tfjs 4.22).
  const [B, H, N, d] = dims(x, ['B', 'H', 'N', 'd'], 'gatherTokens: x');
  const [, , n] = dims(indices, ['B', 'H', 'n'], 'gatherTokens: indices');
  return tf.tidy(() => {
    const offsets = tf.reshape(tf.mul(tf.range(0, B * H, 1, 'int32'), tf.scalar(N, 'int32')), [B, H, 1]);
    const flat = tf.reshape(tf.add(indices, offsets), [B * H * n]);
    return tf.reshape(tf.gather(tf.reshape(x, [B * H * N, d]), flat, 0), [B, H, n, d]);
  });
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
 * @param ratio - the configured fraction of tokens to keep (the selector decides the count)
 * @param context - per-sample seeds for random strategies
 */
export function selectTokens(
  layer: { keys: tf.Tensor; values: tf.Tensor; probs: tf.Tensor },
  selector: TokenSelector,
  ratio: number,
  context?: SelectContext,
): SelectedTokens {
  const n = layer.keys.shape[2] as number;
  const { indices, scores } = selector.select(layer.probs, selector.keep(n, ratio), context);
  return { indices, keys: gatherTokens(layer.keys, indices), values: gatherTokens(layer.values, indices), scores };
}
