import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { clsAttention, gatherTokens, getSelector, meanReceivedAttention, numKept, randomSelector, registerSelector, selectTokens, selectorNames } from '../src/index';

// probs[query][key] for one sample and head: rows sum to 1.
const P = [
  [0.7, 0.2, 0.1],
  [0.1, 0.1, 0.8],
  [0.4, 0.1, 0.5],
];

describe('importance scores', () => {
  it('mean received attention averages over queries; the CLS row is query 0', () => {
    tf.tidy(() => {
      const probs = tf.tensor4d([[P]], [1, 1, 3, 3]);
      const mean = meanReceivedAttention(probs).arraySync() as number[][][];
      [0.4, 0.4 / 3, 1.4 / 3].forEach((v, i) => expect(mean[0][0][i]).toBeCloseTo(v, 6));
      expect(clsAttention(probs).arraySync()).toEqual([[[0.7, 0.2, 0.1].map(Math.fround)]]);
    });
  });

  it('selectors keep the top tokens in descending score order', () => {
    tf.tidy(() => {
      const probs = tf.tensor4d([[P]], [1, 1, 3, 3]);
      expect(getSelector('global').select(probs, 2).indices.arraySync()).toEqual([[[2, 0]]]);
      expect(getSelector('class_token').select(probs, 2).indices.arraySync()).toEqual([[[0, 1]]]);
    });
  });
});

describe('numKept', () => {
  it('is floor(N * ratio), robust to float error', () => {
    expect(numKept(1025, 0.2)).toBe(205);
    expect(numKept(37, 0.2)).toBe(7);
    expect(numKept(26, 0.25)).toBe(6);
    expect(numKept(10, 0.7)).toBe(7);
    expect(numKept(3, 0.1)).toBe(1);
    expect(() => numKept(10, 0)).toThrow('token selection "ratio" must be in (0, 1], got 0');
    expect(() => numKept(10, 1.5)).toThrow(/"ratio"/);
  });
});

describe('gather and selectTokens', () => {
  it('gathers per sample and head like a plain loop', () => {
    const [B, H, N, d, n] = [2, 3, 7, 4, 3];
    const data = Array.from({ length: B * H * N * d }, (_, i) => Math.sin(i));
    const idx = Array.from({ length: B * H * n }, (_, i) => (i * 5 + 1) % N);
    tf.tidy(() => {
      const got = gatherTokens(tf.tensor4d(data, [B, H, N, d]), tf.tensor3d(idx, [B, H, n], 'int32')).dataSync();
      const want: number[] = [];
      for (let bh = 0; bh < B * H; bh++) for (let j = 0; j < n; j++) for (let k = 0; k < d; k++) want.push(data[(bh * N + idx[bh * n + j]) * d + k]);
      expect(Array.from(got)).toEqual(want.map(Math.fround));
    });
  });

  it('selects independently per sample and head, keeps all tokens with `all`, and frees intermediates', () => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const probs = tf.softmax(tf.randomNormal([2, 2, 6, 6], 0, 3, 'float32', 4));
      const keys = tf.randomNormal([2, 2, 6, 4], 0, 1, 'float32', 5);
      const sel = selectTokens({ keys, values: keys, probs }, getSelector('global'), 0.5);
      expect(sel.keys.shape).toEqual([2, 2, 3, 4]);
      const rows = (sel.indices.arraySync() as number[][][]).flat().map((r) => r.join(','));
      expect(new Set(rows).size).toBeGreaterThan(1);
      const all = selectTokens({ keys, values: keys, probs }, getSelector('all'), 0.2);
      expect(all.indices.arraySync()).toEqual([[[0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5]], [[0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5]]]);
      expect(Array.from(all.keys.dataSync())).toEqual(Array.from(keys.dataSync()));
    });
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('random selection and the registry', () => {
  it('draws distinct in-range tokens, reproducibly per seed', () => {
    tf.tidy(() => {
      const probs = tf.zeros([2, 3, 10, 10]);
      const a = randomSelector(7).select(probs, 4).indices.arraySync() as number[][][];
      const b = randomSelector(7).select(probs, 4).indices.arraySync();
      const c = randomSelector(8).select(probs, 4).indices.arraySync();
      expect(b).toEqual(a);
      expect(c).not.toEqual(a);
      for (const row of a.flat()) {
        expect(new Set(row).size).toBe(4);
        expect(row.every((i) => i >= 0 && i < 10)).toBe(true);
      }
    });
  });

  it('registers custom criteria and explains unknown ones', () => {
    expect(() => getSelector('nope')).toThrow(`unknown token-selection criterion "nope"; known: ${selectorNames().join(', ')}`);
    registerSelector('last', () => ({
      name: 'last',
      select: (probs, n) => {
        const [b, h, , N] = probs.shape;
        return { indices: tf.tile(tf.reshape(tf.range(N - n, N, 1, 'int32'), [1, 1, n]), [b, h, 1]) };
      },
    }));
    tf.tidy(() => {
      expect(getSelector('last').select(tf.zeros([1, 1, 5, 5]), 2).indices.arraySync()).toEqual([[[3, 4]]]);
    });
    expect(() => registerSelector('last', () => getSelector('all'))).toThrow('registerSelector: criterion "last" is already registered');
  });
});
