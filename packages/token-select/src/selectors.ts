import * as tf from '@tensorflow/tfjs-core';
import { dims, Rng } from '@fpt/core';

/** What identifies a selector's behaviour: hashed by the key/value cache, saved in configs. */
export interface SelectorFingerprint {
  /** Registry key (`global`, `random`, ...). */
  readonly name: string;
  /** Bumped whenever the strategy's output changes for the same input. */
  readonly version: number;
  /** The parameters that change its output (a seed, say). */
  readonly params: Readonly<Record<string, number | string | boolean>>;
}

/** Per-call information some strategies use. */
export interface SelectContext {
  /**
   * One seed per sample of the batch, derived from the image itself (its hash): strategies that
   * draw at random seed each sample's draw from it, so an image's selection does not depend on
   * which images came before it or in which order.
   */
  sampleSeeds?: readonly number[];
  /** The layer being selected from: random strategies draw differently per layer. */
  layer?: number;
}

/**
 * A strategy choosing which key tokens to keep, per sample and head. It owns how many tokens it
 * keeps and its fingerprint. Register new ones with {@link registerSelector}.
 */
export interface TokenSelector {
  /** Name, version and parameters; `JSON.stringify(selector)` writes this. */
  readonly fingerprint: SelectorFingerprint;
  /**
   * How many of `n` tokens this strategy keeps for a ratio.
   * @param n - tokens available
   * @param ratio - the configured fraction, in (0, 1]
   */
  keep(n: number, ratio: number): number;
  /**
   * Indices of the `k` tokens to keep.
   * @param probs - attention probabilities [B, H, N, N] (queries x keys)
   * @param k - how many to keep, from {@link TokenSelector.keep}
   * @param context - per-sample seeds for random strategies
   * @returns indices [B, H, k] (int32) and, for score-based strategies, the scores [B, H, N]
   */
  select(probs: tf.Tensor, k: number, context?: SelectContext): { indices: tf.Tensor; scores?: tf.Tensor };
  /** The fingerprint, for JSON. */
  toJSON(): SelectorFingerprint;
}

/**
 * How many tokens a ratio keeps: floor(N * ratio), at least 1. A tiny epsilon absorbs float error
 * (1025 * 0.2 is 205.00000000000003 in float64, and 100 * 0.29 is 28.999999999999996).
 * @param n - tokens available
 * @param ratio - fraction to keep, in (0, 1]
 * @throws naming the ratio when it is outside (0, 1]
 */
export function numKept(n: number, ratio: number): number {
  if (!(ratio > 0 && ratio <= 1)) throw new Error(`token selection "ratio" must be in (0, 1], got ${ratio}`);
  return Math.max(1, Math.floor(n * ratio + 1e-9));
}

/**
 * Makes a selector from its fingerprint and `select` (and `keep`, default floor(N * ratio)).
 * @param fingerprint - name, version, parameters
 * @param rest - the strategy
 */
export function defineSelector(
  fingerprint: SelectorFingerprint,
  rest: Pick<TokenSelector, 'select'> & Partial<Pick<TokenSelector, 'keep'>>,
): TokenSelector {
  return Object.freeze({ fingerprint, keep: numKept, ...rest, toJSON: () => fingerprint });
}

/** The layout of attention probabilities: per sample and head, one row per query over the keys. */
const PROBS = ['B', 'H', 'N', 'N'] as const;

/** The mean attention each key token receives over all queries: [B, H, N, N] -> [B, H, N]. */
export function meanReceivedAttention(probs: tf.Tensor): tf.Tensor {
  return tf.mean(probs, 2);
}

/** The CLS query's attention row: [B, H, N, N] -> [B, H, N]. */
export function clsAttention(probs: tf.Tensor): tf.Tensor {
  const [b, h, , n] = dims(probs, PROBS, 'clsAttention: probs');
  return tf.reshape(tf.slice(probs, [0, 0, 0, 0], [b, h, 1, n]), [b, h, n]);
}

function byScore(name: string, score: (probs: tf.Tensor) => tf.Tensor): TokenSelector {
  return defineSelector(
    { name, version: 1, params: {} },
    {
      select(probs, k) {
        const scores = score(probs);
        // top-k returns indices in descending score order, like torch.topk.
        const { indices, values } = tf.topk(scores, k, true);
        values.dispose();
        return { indices, scores };
      },
    },
  );
}

/** FPT+'s default: keep the tokens that receive the most attention on average (`global`). */
export const globalSelector: TokenSelector = byScore('global', meanReceivedAttention);

/** Keep the tokens the CLS query attends to most (`class_token`). */
export const classTokenSelector: TokenSelector = byScore('class_token', clsAttention);

/** Keep every token, in order (`all`): the upper bound that token selection approximates. */
export const allSelector: TokenSelector = defineSelector(
  { name: 'all', version: 1, params: {} },
  {
    keep: (n) => n,
    select(probs) {
      const [b, h, , n] = dims(probs, PROBS, 'all selector: probs');
      return { indices: tf.tile(tf.reshape(tf.range(0, n, 1, 'int32'), [1, 1, n]), [b, h, 1]) };
    },
  },
);

/**
 * Keep `k` distinct tokens drawn uniformly per sample and head: the baseline that shows what the
 * importance scores add. Each sample's draw is seeded by `seed` mixed with the sample's own seed
 * (from its image hash, see {@link SelectContext}) and the layer, so the selection of an image never
 * depends on the batch it came in and differs between layers; without sample seeds, by `seed`, the
 * sample's index in the batch and the layer.
 * @param seed - the configured seed
 */
export function randomSelector(seed: number): TokenSelector {
  return defineSelector(
    { name: 'random', version: 3, params: { seed } },
    {
      select(probs, k, context = {}) {
        const [b, h, , n] = dims(probs, PROBS, 'random selector: probs');
        if (context.sampleSeeds && context.sampleSeeds.length !== b) {
          throw new Error(`random selector: ${context.sampleSeeds.length} sample seeds for a batch of ${b}`);
        }
        const out = new Int32Array(b * h * k);
        const perm = new Int32Array(n);
        for (let s = 0; s < b; s++) {
          const sampleSeed = context.sampleSeeds?.[s] ?? s;
          const rng = new Rng((Math.imul(seed + 1, 0x9e3779b1) ^ sampleSeed ^ Math.imul((context.layer ?? 0) + 1, 0x85ebca6b)) >>> 0);
          for (let head = 0; head < h; head++) {
            const row = s * h + head;
            for (let i = 0; i < n; i++) perm[i] = i;
            for (let i = 0; i < k; i++) {
              // Swap a draw from perm[i..n) into place i (i <= j < n: both in range).
              const j = i + rng.int(n - i);
              const picked = perm[j]!;
              perm[j] = perm[i]!;
              perm[i] = picked;
              out[row * k + i] = picked;
            }
          }
        }
        return { indices: tf.tensor3d(out, [b, h, k], 'int32') };
      },
    },
  );
}
