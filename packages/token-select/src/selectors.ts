import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@fpt/core';

/**
 * A strategy choosing which key tokens to keep, per sample and head.
 * Register new ones with {@link registerSelector}.
 */
export interface TokenSelector {
  /** Registry key. */
  readonly name: string;
  /**
   * Indices of the `n` tokens to keep.
   * @param probs - attention probabilities [B, H, N, N] (queries x keys)
   * @param n - how many to keep
   * @returns indices [B, H, n] (int32) and, for score-based strategies, the scores [B, H, N]
   */
  select(probs: tf.Tensor, n: number): { indices: tf.Tensor; scores?: tf.Tensor };
}

/** The mean attention each key token receives over all queries: [B, H, N, N] -> [B, H, N]. */
export function meanReceivedAttention(probs: tf.Tensor): tf.Tensor {
  return tf.mean(probs, 2);
}

/** The CLS query's attention row: [B, H, N, N] -> [B, H, N]. */
export function clsAttention(probs: tf.Tensor): tf.Tensor {
  const [b, h, , n] = probs.shape;
  return tf.reshape(tf.slice(probs, [0, 0, 0, 0], [b, h, 1, n]), [b, h, n]);
}

function byScore(name: string, score: (probs: tf.Tensor) => tf.Tensor): TokenSelector {
  return {
    name,
    select(probs, n) {
      const scores = score(probs);
      // top-k returns indices in descending score order, like torch.topk.
      const { indices, values } = tf.topk(scores, n, true);
      values.dispose();
      return { indices, scores };
    },
  };
}

/** FPT+'s default: keep the tokens that receive the most attention on average (`global`). */
export const globalSelector: TokenSelector = byScore('global', meanReceivedAttention);

/** Keep the tokens the CLS query attends to most (`class_token`). */
export const classTokenSelector: TokenSelector = byScore('class_token', clsAttention);

/** Keep every token, in order (`all`): the upper bound that token selection approximates. */
export const allSelector: TokenSelector = {
  name: 'all',
  select(probs) {
    const [b, h, , n] = probs.shape;
    return { indices: tf.tile(tf.reshape(tf.range(0, n, 1, 'int32'), [1, 1, n]), [b, h, 1]) };
  },
};

/**
 * Keep `n` distinct tokens drawn uniformly per sample and head from a seeded stream: the
 * baseline that shows what the importance scores add.
 * @param seed - seed of the stream; each call continues it
 */
export function randomSelector(seed: number): TokenSelector {
  const rng = new Rng(seed);
  return {
    name: 'random',
    select(probs, k) {
      const [b, h, , n] = probs.shape;
      const out = new Int32Array(b * h * k);
      const perm = new Int32Array(n);
      for (let row = 0; row < b * h; row++) {
        for (let i = 0; i < n; i++) perm[i] = i;
        for (let i = 0; i < k; i++) {
          const j = i + rng.int(n - i);
          [perm[i], perm[j]] = [perm[j], perm[i]];
          out[row * k + i] = perm[i];
        }
      }
      return { indices: tf.tensor3d(out, [b, h, k], 'int32') };
    },
  };
}
