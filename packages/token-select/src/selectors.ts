import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@fpt/core';

/**
 * Who the rows of a selection belong to, so that a random strategy can draw the same tokens for
 * the same image whatever batch it comes in (a cache entry must not depend on the batch order).
 */
export interface SelectionContext {
  /** One stable key per sample of the batch (the image's content hash, say). */
  sampleKeys?: readonly string[];
  /** The layer being selected from; each layer draws independently. */
  layer?: number;
}

/**
 * A strategy choosing which key tokens to keep, per sample and head.
 * Register new ones with {@link registerSelector}.
 */
export interface TokenSelector {
  /** Registry key. */
  readonly name: string;
  /**
   * Everything that changes what this selector returns for given inputs (its name, seed and draw
   * scheme), for cache fingerprints. Deterministic score-based selectors may leave it out: their
   * name says everything.
   */
  readonly fingerprint?: string;
  /**
   * Indices of the `n` tokens to keep.
   * @param probs - attention probabilities [B, H, N, N] (queries x keys)
   * @param n - how many to keep
   * @param context - who the samples are (used by random strategies)
   * @returns indices [B, H, n] (int32) and, for score-based strategies, the scores [B, H, N]
   */
  select(probs: tf.Tensor, n: number, context?: SelectionContext): { indices: tf.Tensor; scores?: tf.Tensor };
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
 * Keep `n` distinct tokens drawn uniformly per sample and head: the baseline that shows what the
 * importance scores add. Given sample keys (see {@link SelectionContext}), each sample's draw is
 * seeded from `seed`, its key and the layer, so an image gets the same tokens in any batch and
 * order (what a key/value cache needs). Without keys, draws come from one seeded stream that each
 * call continues.
 * @param seed - the seed
 */
export function randomSelector(seed: number): TokenSelector {
  const stream = new Rng(seed);
  return {
    name: 'random',
    fingerprint: `random:per-sample-key/1:seed=${seed}`,
    select(probs, k, context = {}) {
      const [b, h, , n] = probs.shape;
      const keys = context.sampleKeys;
      if (keys && keys.length !== b) throw new Error(`randomSelector: ${keys.length} sample keys for a batch of ${b}`);
      const out = new Int32Array(b * h * k);
      const perm = new Int32Array(n);
      for (let sample = 0; sample < b; sample++) {
        const rng = keys ? new Rng(sampleSeed(seed, keys[sample], context.layer ?? 0)) : stream;
        for (let head = 0; head < h; head++) {
          const row = sample * h + head;
          for (let i = 0; i < n; i++) perm[i] = i;
          for (let i = 0; i < k; i++) {
            const j = i + rng.int(n - i);
            [perm[i], perm[j]] = [perm[j], perm[i]];
            out[row * k + i] = perm[i];
          }
        }
      }
      return { indices: tf.tensor3d(out, [b, h, k], 'int32') };
    },
  };
}

/** A 32-bit seed from a base seed, a sample key and a layer (FNV-1a over all three). */
function sampleSeed(seed: number, key: string, layer: number): number {
  let x = 0x811c9dc5;
  const mix = (v: number) => {
    x ^= v & 0xffff;
    x = Math.imul(x, 0x01000193);
    x ^= v >>> 16;
    x = Math.imul(x, 0x01000193);
  };
  mix(seed >>> 0);
  mix(layer >>> 0);
  for (let i = 0; i < key.length; i++) mix(key.charCodeAt(i));
  return x >>> 0;
}
