import { describe, expect, it } from 'vitest';
import { dims } from '@fpt/core';
import * as tf from '@tensorflow/tfjs-core';
import {
  allSelector,
  classTokenSelector,
  clsAttention,
  gatherTokens,
  getSelector,
  globalSelector,
  meanReceivedAttention,
  numKept,
  randomSelector,
  defineSelector,
  registerSelector,
  selectorNames,
  selectTokens,
  type TokenSelector,
} from '../src/index';

// probs[query][key] of one sample and head; rows sum to 1. Chosen so that neither score orders the
// tokens by index and the two scores order them differently:
//   mean received (column means) = [0.2, 1.3/3, 1.1/3]  -> descending order 1, 2, 0
//   CLS row (query 0)             = [0.2, 0.1, 0.7]      -> descending order 2, 0, 1
const P = [
  [0.2, 0.1, 0.7],
  [0.1, 0.6, 0.3],
  [0.3, 0.6, 0.1],
];
const handMade = () => tf.tensor4d([[P]], [1, 1, 3, 3]);

/** Deterministic pseudo-random numbers for test data (no tfjs RNG involved). */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Random attention probabilities [B, H, N, N] as nested arrays: each row a softmax of random logits. */
function randomProbs(B: number, H: number, N: number, seed: number): number[][][][] {
  const r = seeded(seed);
  return Array.from({ length: B }, () =>
    Array.from({ length: H }, () =>
      Array.from({ length: N }, () => {
        const e = Array.from({ length: N }, () => Math.exp(4 * (r() - 0.5)));
        const z = e.reduce((a, x) => a + x, 0);
        return e.map((x) => x / z);
      }),
    ),
  );
}

/** Indices of the n largest scores, largest first. */
function topIndices(scores: number[], n: number): number[] {
  return scores
    .map((s, i) => [s, i] as const)
    .sort((a, b) => b[0] - a[0])
    .slice(0, n)
    .map(([, i]) => i);
}

describe('importance scores on a hand-made [1, 1, 3, 3] tensor', () => {
  it('meanReceivedAttention averages each key column over the queries', () => {
    tf.tidy(() => {
      const s = meanReceivedAttention(handMade());
      expect(s.shape).toEqual([1, 1, 3]);
      expect(s.arraySync()).toEqual([[[0.2, 1.3 / 3, 1.1 / 3].map((want) => expect.closeTo(want, 6))]]);
    });
  });

  it('clsAttention is the first query row', () => {
    tf.tidy(() => {
      const s = clsAttention(handMade());
      expect(s.shape).toEqual([1, 1, 3]);
      expect(s.arraySync()).toEqual([[[0.2, 0.1, 0.7].map(Math.fround)]]);
    });
  });
});

describe('score-based selectors', () => {
  it('globalSelector keeps the most-attended tokens, in descending score order', () => {
    tf.tidy(() => {
      const { indices, scores } = globalSelector.select(handMade(), 3);
      expect(indices.dtype).toBe('int32');
      expect(indices.arraySync()).toEqual([[[1, 2, 0]]]);
      expect(globalSelector.select(handMade(), 2).indices.arraySync()).toEqual([[[1, 2]]]);
      expect(globalSelector.select(handMade(), 1).indices.arraySync()).toEqual([[[1]]]);
      expect(Array.from(scores!.dataSync())).toEqual(Array.from(meanReceivedAttention(handMade()).dataSync()));
    });
  });

  it('classTokenSelector keeps the tokens the CLS query attends to most, in descending order', () => {
    tf.tidy(() => {
      expect(classTokenSelector.select(handMade(), 3).indices.arraySync()).toEqual([[[2, 0, 1]]]);
      expect(classTokenSelector.select(handMade(), 2).indices.arraySync()).toEqual([[[2, 0]]]);
    });
  });

  it('getSelector returns the built-ins by criterion name', () => {
    expect(getSelector('global')).toBe(globalSelector);
    expect(getSelector('class_token')).toBe(classTokenSelector);
    expect(getSelector('all')).toBe(allSelector);
    expect(getSelector('random').fingerprint).toEqual({ name: 'random', version: 3, params: { seed: 0 } });
    expect(selectorNames()).toEqual(expect.arrayContaining(['global', 'class_token', 'random', 'all']));
  });

  it('selects independently per sample and per head (matches a per-row JS top-k)', () => {
    const [B, H, N, n] = [2, 3, 8, 3];
    const probs = randomProbs(B, H, N, 11);
    tf.tidy(() => {
      const t = tf.tensor4d(probs);
      const global = globalSelector.select(t, n).indices.arraySync() as number[][][];
      const cls = classTokenSelector.select(t, n).indices.arraySync() as number[][][];
      const selections = new Set<string>();
      probs.forEach((sample, b) =>
        sample.forEach((queries, h) => {
          const colMean = Array.from({ length: N }, (_, k) => queries.reduce((a, row) => a + row[k]!, 0) / N);
          expect(global[b]?.[h]).toEqual(topIndices(colMean, n));
          expect(cls[b]?.[h]).toEqual(topIndices(queries[0] ?? [], n));
          selections.add(String(global[b]?.[h]));
        }),
      );
      // Different rows really got different selections (no row's choice was broadcast to the others).
      expect(selections.size).toBeGreaterThan(1);
    });
  });

  it('a sample whose attention favours another token selects it, whatever the other samples do', () => {
    // Two samples x two heads; in each (b, h) all queries attend to a different key.
    const favourite = [
      [0, 3],
      [2, 1],
    ];
    tf.tidy(() => {
      const probs = tf.tensor4d(
        favourite.map((row) => row.map((k) => Array.from({ length: 4 }, () => Array.from({ length: 4 }, (_, j) => (j === k ? 0.7 : 0.1))))),
      );
      expect(globalSelector.select(probs, 1).indices.arraySync()).toEqual(favourite.map((row) => row.map((k) => [k])));
      expect(classTokenSelector.select(probs, 1).indices.arraySync()).toEqual(favourite.map((row) => row.map((k) => [k])));
    });
  });
});

describe('numKept', () => {
  it('is floor(N * ratio), robust to float error', () => {
    expect(numKept(1025, 0.2)).toBe(205); // 1025 * 0.2 = 205.00000000000003
    expect(numKept(37, 0.2)).toBe(7);
    expect(numKept(26, 0.25)).toBe(6);
    expect(numKept(100, 0.29)).toBe(29); // 100 * 0.29 = 28.999999999999996
    expect(numKept(100, 0.57)).toBe(57); // 100 * 0.57 = 56.99999999999999
    expect(numKept(197, 1)).toBe(197);
    expect(numKept(3, 0.1)).toBe(1); // at least one token
  });

  it('rejects a ratio outside (0, 1], naming it', () => {
    expect(() => numKept(10, 0)).toThrow(/"ratio".*got 0/);
    expect(() => numKept(10, 1.5)).toThrow(/"ratio".*got 1.5/);
    expect(() => numKept(10, -0.2)).toThrow(/"ratio"/);
    expect(() => numKept(10, Number.NaN)).toThrow(/"ratio"/);
  });
});

describe('gatherTokens', () => {
  it('equals a plain JS gather on random data [2, 3, 7, 4]', () => {
    const [B, H, N, d, n] = [2, 3, 7, 4, 5];
    const r = seeded(3);
    const data = Array.from({ length: B * H * N * d }, () => r() * 2 - 1);
    const idx = Array.from({ length: B * H * n }, () => Math.floor(r() * N)); // repeats allowed
    tf.tidy(() => {
      const out = gatherTokens(tf.tensor4d(data, [B, H, N, d]), tf.tensor3d(idx, [B, H, n], 'int32'));
      expect(out.shape).toEqual([B, H, n, d]);
      const want: number[] = [];
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++)
          for (let j = 0; j < n; j++) for (let k = 0; k < d; k++) want.push(data[((b * H + h) * N + idx[(b * H + h) * n + j]!) * d + k]!);
      expect(Array.from(out.dataSync())).toEqual(want.map(Math.fround));
    });
  });
});

describe('selectTokens', () => {
  it('`all` keeps all N tokens in order, whatever the ratio', () => {
    const [B, H, N, d] = [2, 2, 6, 4];
    tf.tidy(() => {
      const probs = tf.tensor4d(randomProbs(B, H, N, 5));
      const keys = tf.randomNormal([B, H, N, d], 0, 1, 'float32', 1);
      const values = tf.randomNormal([B, H, N, d], 0, 1, 'float32', 2);
      const sel = selectTokens({ keys, values, probs }, getSelector('all'), 0.2);
      const order = [0, 1, 2, 3, 4, 5];
      expect(sel.indices.arraySync()).toEqual([
        [order, order],
        [order, order],
      ]);
      expect(Array.from(sel.keys.dataSync())).toEqual(Array.from(keys.dataSync()));
      expect(Array.from(sel.values.dataSync())).toEqual(Array.from(values.dataSync()));
    });
  });

  it('keeps numKept(N, ratio) tokens and gathers keys and values at the same indices', () => {
    const [B, H, N, d] = [2, 3, 10, 4];
    tf.tidy(() => {
      const probs = tf.tensor4d(randomProbs(B, H, N, 9));
      const keys = tf.randomNormal([B, H, N, d], 0, 1, 'float32', 3);
      const values = tf.randomNormal([B, H, N, d], 0, 1, 'float32', 4);
      const sel = selectTokens({ keys, values, probs }, getSelector('global'), 0.25);
      expect(sel.indices.shape).toEqual([B, H, 2]);
      expect(sel.keys.shape).toEqual([B, H, 2, d]);
      expect(sel.values.shape).toEqual([B, H, 2, d]);
      expect(sel.scores!.shape).toEqual([B, H, N]);
      const idx = sel.indices.arraySync() as number[][][];
      const K = keys.arraySync() as number[][][][];
      const V = values.arraySync() as number[][][][];
      const gotK = sel.keys.arraySync() as number[][][][];
      const gotV = sel.values.arraySync() as number[][][][];
      expect(idx.length).toBe(B);
      idx.forEach((sample, b) =>
        sample.forEach((tokens, h) =>
          tokens.forEach((t, j) => {
            expect(gotK[b]?.[h]?.[j]).toEqual(K[b]?.[h]?.[t]);
            expect(gotV[b]?.[h]?.[j]).toEqual(V[b]?.[h]?.[t]);
          }),
        ),
      );
    });
  });

  it('leaks no tensor inside tf.tidy, for every built-in criterion', () => {
    const keys = tf.randomNormal([2, 2, 9, 4], 0, 1, 'float32', 6);
    const probs = tf.softmax(tf.randomNormal([2, 2, 9, 9], 0, 3, 'float32', 7));
    for (const name of ['global', 'class_token', 'random', 'all']) {
      const before = tf.memory().numTensors;
      const n = tf.tidy(() => {
        const sel = selectTokens({ keys, values: keys, probs }, getSelector(name, 1), 0.34);
        return sel.keys.shape[2];
      });
      expect(n).toBe(name === 'all' ? 9 : 3);
      expect(tf.memory().numTensors).toBe(before);
    }
    tf.dispose([keys, probs]);
  });
});

describe('randomSelector', () => {
  it('draws distinct in-range indices per sample and head', () => {
    tf.tidy(() => {
      const sel = randomSelector(7).select(tf.zeros([2, 3, 10, 10]), 4);
      expect(sel.indices.shape).toEqual([2, 3, 4]);
      expect(sel.indices.dtype).toBe('int32');
      for (const row of (sel.indices.arraySync() as number[][][]).flat()) {
        expect(new Set(row).size).toBe(4);
        for (const i of row) {
          expect(Number.isInteger(i)).toBe(true);
          expect(i).toBeGreaterThanOrEqual(0);
          expect(i).toBeLessThan(10);
        }
      }
    });
  });

  it('can keep every token (a permutation) without repeats', () => {
    tf.tidy(() => {
      const rows = (
        randomSelector(1)
          .select(tf.zeros([1, 2, 6, 6]), 6)
          .indices.arraySync() as number[][][]
      ).flat();
      for (const row of rows) expect([...row].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    });
  });

  it('is reproducible with the same seed and differs with another', () => {
    tf.tidy(() => {
      const probs = tf.zeros([2, 3, 20, 20]);
      const a = randomSelector(7).select(probs, 5).indices.arraySync();
      expect(randomSelector(7).select(probs, 5).indices.arraySync()).toEqual(a);
      expect(getSelector('random', 7).select(probs, 5).indices.arraySync()).toEqual(a);
      expect(randomSelector(8).select(probs, 5).indices.arraySync()).not.toEqual(a);
      // No hidden stream: the same selector draws the same for the same input (issue 8, item 2).
      const s = randomSelector(7);
      s.select(probs, 5);
      expect(s.select(probs, 5).indices.arraySync()).toEqual(a);
      // Rows are drawn independently.
      const rows = (a as number[][][]).flat().map((r) => r.join(','));
      expect(new Set(rows).size).toBeGreaterThan(1);
    });
  });
});

describe('the criterion registry', () => {
  it('an unknown criterion errors, naming it and listing the known ones', () => {
    let message = '';
    try {
      getSelector('nope');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('"nope"');
    for (const known of ['global', 'class_token', 'random', 'all']) expect(message).toContain(known);
  });

  it('registerSelector makes a custom criterion usable by name and refuses duplicates', () => {
    const seeds: number[] = [];
    const last = (seed: number): TokenSelector => {
      seeds.push(seed);
      return defineSelector(
        { name: 'test-last-tokens', version: 1, params: { seed } },
        {
          select: (probs, n) => {
            const [b, h, , N] = dims(probs, ['B', 'H', 'N', 'N'], 'test-last-tokens: probs');
            return { indices: tf.tile(tf.reshape(tf.range(N - n, N, 1, 'int32'), [1, 1, n]), [b, h, 1]) };
          },
        },
      );
    };
    registerSelector('test-last-tokens', last);
    expect(selectorNames()).toContain('test-last-tokens');
    tf.tidy(() => {
      const keys = tf.reshape(tf.range(0, 2 * 5 * 1), [1, 2, 5, 1]);
      const sel = selectTokens({ keys, values: keys, probs: tf.zeros([1, 2, 5, 5]) }, getSelector('test-last-tokens', 42), 0.4);
      expect(sel.indices.arraySync()).toEqual([
        [
          [3, 4],
          [3, 4],
        ],
      ]);
      expect(Array.from(sel.keys.dataSync())).toEqual([3, 4, 8, 9]);
    });
    expect(seeds).toEqual([42]);
    expect(() => registerSelector('test-last-tokens', last)).toThrow(/"test-last-tokens".*already registered/);
    expect(() => registerSelector('global', last)).toThrow(/"global".*already registered/);
    expect(getSelector('global')).toBe(globalSelector); // the built-in was not replaced
  });

  it('each selector owns its count and fingerprint: `all` keeps every token, the rest floor(N * ratio)', () => {
    expect(allSelector.keep(1025, 0.2)).toBe(1025);
    expect(globalSelector.keep(1025, 0.2)).toBe(205);
    expect(() => globalSelector.keep(10, 5)).toThrow('token selection "ratio" must be in (0, 1], got 5');
    expect(JSON.parse(JSON.stringify(randomSelector(7)))).toEqual({ name: 'random', version: 3, params: { seed: 7 } });
    expect(globalSelector.fingerprint).toEqual({ name: 'global', version: 1, params: {} });
  });

  it("random: a sample's draw depends on its own seed only, not on the batch it came in", () => {
    const probs = tf.zeros([3, 2, 9, 9]);
    const sel = randomSelector(1);
    const abc = sel.select(probs, 4, { sampleSeeds: [11, 22, 33] }).indices.arraySync() as number[][][];
    const cba = sel.select(probs, 4, { sampleSeeds: [33, 22, 11] }).indices.arraySync() as number[][][];
    expect(cba[0]).toEqual(abc[2]);
    expect(cba[2]).toEqual(abc[0]);
    expect(abc[0]).not.toEqual(abc[1]);
    const alone = randomSelector(1)
      .select(tf.zeros([1, 2, 9, 9]), 4, { sampleSeeds: [22] })
      .indices.arraySync() as number[][][];
    expect(alone[0]).toEqual(abc[1]);
    expect(() => sel.select(probs, 4, { sampleSeeds: [1] })).toThrow('random selector: 1 sample seeds for a batch of 3');
    // Each layer draws its own tokens for the same image.
    const l0 = sel.select(probs, 4, { sampleSeeds: [11, 22, 33], layer: 0 }).indices.arraySync();
    const l1 = sel.select(probs, 4, { sampleSeeds: [11, 22, 33], layer: 1 }).indices.arraySync();
    expect(l1).not.toEqual(l0);
    probs.dispose();
  });
});
