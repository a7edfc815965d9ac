import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, crossEntropy, dropout, linear, sampleSeed, trainStep } from '../src/index';

// Gradient accumulation: a step over micro-batches (each weighted by its share of the batch) must
// apply the update of one step over the whole batch, dropout included, since each image draws its
// mask from the step's seed and its index in the whole batch.

const B = 6;
const D = 5;
const C = 3;

let made = 0;
function setup() {
  made++;
  const w = tf.variable(tf.randomNormal([C, D], 0, 0.5, 'float32', 1), true, `accumulate.w${made}`);
  const b = tf.variable(tf.zeros([C]), true, `accumulate.b${made}`);
  const x = tf.randomNormal([B, D], 0, 1, 'float32', 2);
  const y = tf.tensor1d([0, 1, 2, 1, 0, 2], 'int32');
  const opt = new AdamW([w, b], { lr: 0.05, weightDecay: 0.1 });
  // Dropout on the input, per image: the mask of image i depends on the step's seed and i only.
  const loss = (from: number, to: number, seed: number) => () =>
    crossEntropy(
      linear(dropout(tf.slice(x, [from, 0], [to - from, D]), 0.3, true, seed, { axis: 0, offset: from }), w, b),
      tf.slice(y, [from], [to - from]),
    );
  const dispose = () => {
    tf.dispose([w, b, x, y]);
    opt.dispose();
  };
  return { w, b, opt, loss, dispose };
}

describe('trainStep with micro-batches', () => {
  it('applies the same update as the whole batch (uneven micro-batches, dropout, clipping, three steps)', () => {
    const whole = setup();
    const parts = setup();
    const before = tf.memory().numTensors;
    for (let step = 0; step < 3; step++) {
      const seed = 1000 + step;
      const a = trainStep(whole.loss(0, B, seed), whole.opt, { clipNorm: 0.5 });
      const ranges: Array<[number, number]> = [
        [0, 4],
        [4, 5],
        [5, 6],
      ];
      const r = trainStep(
        ranges.map(([f, t]) => ({ loss: parts.loss(f, t, seed), weight: (t - f) / B })),
        parts.opt,
        { clipNorm: 0.5 },
      );
      expect(r.microBatches).toBe(3);
      expect(a.microBatches).toBe(1);
      expect(r.loss).toBeCloseTo(a.loss, 5);
      expect(r.gradNorm).toBeCloseTo(a.gradNorm, 5);
    }
    // Only the first steps' AdamW moments were added (2 variables x 2 moments x 2 optimizers).
    expect(tf.memory().numTensors).toBe(before + 8);
    for (const [p, q] of [
      [whole.w, parts.w],
      [whole.b, parts.b],
    ] as const) {
      const [u, v] = [p.dataSync(), q.dataSync()];
      expect(u.length).toBe(v.length);
      u.forEach((x, i) => expect(Math.abs(x - v[i]!)).toBeLessThan(1e-6));
    }
    whole.dispose();
    parts.dispose();
  });

  it('refuses an empty list and a share that is not a positive number, and leaks nothing when a micro-batch throws', () => {
    const s = setup();
    expect(() => trainStep([], s.opt)).toThrow('trainStep: the list of micro-batches is empty; pass at least one');
    expect(() => trainStep([{ loss: s.loss(0, 3, 1), weight: 0 }], s.opt)).toThrow(
      'trainStep: micro-batch 0 has weight 0; expected its share of the batch, a positive number',
    );
    expect(() => trainStep([{ loss: s.loss(0, 3, 1), weight: Number.NaN }], s.opt)).toThrow('micro-batch 0 has weight NaN');
    const before = tf.memory().numTensors;
    const w0 = s.w.dataSync().slice();
    expect(() =>
      trainStep(
        [
          { loss: s.loss(0, 3, 1), weight: 0.5 },
          {
            loss: () => {
              throw new Error('bad micro-batch');
            },
            weight: 0.5,
          },
        ],
        s.opt,
      ),
    ).toThrow('bad micro-batch');
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(s.w.dataSync())).toEqual(Array.from(w0));
    s.dispose();
  });
});

describe('dropout per image', () => {
  it("draws each image's mask from the seed and the image's index in the whole batch, on any batch axis", () => {
    const x = tf.ones([2, 6, 4, 3]);
    const whole = dropout(x, 0.5, true, 7, { axis: 1, offset: 0 });
    const tail = dropout(tf.slice(x, [0, 2, 0, 0], [2, 4, 4, 3]), 0.5, true, 7, { axis: 1, offset: 2 });
    expect(Array.from(tf.slice(whole, [0, 2, 0, 0], [2, 4, 4, 3]).dataSync())).toEqual(Array.from(tail.dataSync()));
    // Different images draw different masks; kept values are scaled by 1 / (1 - rate).
    const v = whole.dataSync();
    const img = (i: number) => Array.from(tf.slice(whole, [0, i, 0, 0], [2, 1, 4, 3]).dataSync()).join();
    expect(img(0)).not.toBe(img(1));
    expect(new Set(v)).toEqual(new Set([0, 2]));
    expect(sampleSeed(7, 0)).not.toBe(sampleSeed(7, 1));
    expect(sampleSeed(7, 0)).not.toBe(sampleSeed(8, 0));
  });
});
