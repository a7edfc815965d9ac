import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { attention, gelu, lastDim, layerNorm, markBufferPhase, measureStep, trackBuffers, variableGradsFreeing } from '../src/index';

// The composed formulas the fused ops replace: the references for values and gradients.
const refLayerNorm = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, eps: number) => {
  const axis = x.rank - 1;
  const c = tf.sub(x, tf.mean(x, axis, true));
  return tf.add(tf.mul(tf.mul(c, tf.rsqrt(tf.add(tf.mean(tf.square(c), axis, true), eps))), w), b);
};
const refGelu = (x: tf.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
const refAttention = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) =>
  tf.matMul(tf.softmax(tf.div(tf.matMul(q, k, false, true), Math.sqrt(lastDim(q, 'refAttention: q')))), v);

function expectClose(a: tf.Tensor, b: tf.Tensor, tol = 1e-5): void {
  expect(a.shape).toEqual(b.shape);
  const x = a.dataSync();
  const y = b.dataSync();
  let scale = 1e-3;
  for (const v of y) scale = Math.max(scale, Math.abs(v));
  y.forEach((v, i) => expect(Math.abs(x[i]! - v) / scale).toBeLessThan(tol)); // same shape, checked above
}

/** Values and gradients of `f` and `ref` (through a random cotangent) agree, and nothing leaks. */
function checkOp(f: (...xs: tf.Tensor[]) => tf.Tensor, ref: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]): void {
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const dy = tf.randomNormal(ref(...inputs).shape, 0, 1, 'float32', 5);
    expectClose(f(...inputs), ref(...inputs));
    const loss =
      (g: (...xs: tf.Tensor[]) => tf.Tensor) =>
      (...xs: tf.Tensor[]) =>
        tf.sum(tf.mul(g(...xs), dy));
    const got = tf.grads(loss(f))(inputs);
    const want = tf.grads(loss(ref))(inputs);
    expect(got.length).toBe(want.length);
    got.forEach((g, i) => expectClose(g, want[i]!));
  });
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose(inputs);
}

describe('fused ops with hand-written gradients', () => {
  it('layer norm equals the composed formula, gradients included', () => {
    checkOp(
      (x, w, b) => layerNorm(x, w, b, 1e-6),
      (x, w, b) => refLayerNorm(x, w, b, 1e-6),
      [
        tf.randomNormal([2, 5, 12], 0.3, 2, 'float32', 1),
        tf.randomNormal([12], 1, 0.2, 'float32', 2),
        tf.randomNormal([12], 0, 0.2, 'float32', 3),
      ],
    );
  });

  it('GELU equals the composed exact GELU, gradient included', () => {
    checkOp(gelu, refGelu, [tf.randomNormal([3, 7, 16], 0, 2, 'float32', 4)]);
  });

  it('attention equals softmax(Q K^T / sqrt d) V, gradients for Q, K and V included', () => {
    checkOp((q, k, v) => attention(q, k, v).out, refAttention, [
      tf.randomNormal([2, 3, 5, 8], 0, 1, 'float32', 6),
      tf.randomNormal([2, 3, 7, 8], 0, 1, 'float32', 7),
      tf.randomNormal([2, 3, 7, 8], 0, 1, 'float32', 8),
    ]);
  });

  it('attention returns the probabilities as values that sum to one per query', () => {
    tf.tidy(() => {
      const q = tf.randomNormal([1, 2, 4, 8], 0, 1, 'float32', 9);
      const k = tf.randomNormal([1, 2, 6, 8], 0, 1, 'float32', 10);
      const { probs } = attention(q, k, k);
      expect(probs.shape).toEqual([1, 2, 4, 6]);
      expectClose(tf.sum(probs, -1), tf.ones([1, 2, 4]));
    });
  });
});

describe('variableGradsFreeing', () => {
  // Kernels the trimming treats specially: Add/Sub with broadcast, Reshape, Concat, Pad, Slice,
  // AddN, a frozen weight's matMul, Multiply with a constant side, and a fused op.
  const frozen = tf.variable(tf.randomNormal([6, 4], 0, 1, 'float32', 11), false);
  const w = tf.variable(tf.randomNormal([4, 6], 0, 1, 'float32', 12), true, 'freeing-w');
  const bias = tf.variable(tf.randomNormal([6], 0, 1, 'float32', 13), true, 'freeing-b');
  const x = tf.randomNormal([3, 4], 0, 1, 'float32', 14);
  const loss = () =>
    tf.tidy(() => {
      const h = tf.add(tf.matMul(x, w), bias); // [3, 6]
      const r = tf.reshape(tf.sub(h, tf.mean(h, 0)), [3, 2, 3]);
      const c = tf.concat([r, tf.mul(r, 2)], 1); // [3, 4, 3]
      const p = tf.slice(
        tf.pad(c, [
          [0, 0],
          [1, 0],
          [0, 2],
        ]),
        [0, 1, 1],
        [-1, 4, 3],
      );
      const frozenOut = tf.matMul(tf.reshape(p, [-1, 6]), frozen); // only the input needs a gradient
      const g = gelu(tf.addN([frozenOut, frozenOut, tf.mul(frozenOut, 0.5)]));
      return tf.sum(tf.square(g)) as tf.Scalar;
    });

  it('gives the same loss and gradients as tf.variableGrads, and leaks nothing', () => {
    const before = tf.memory().numTensors;
    const want = tf.variableGrads(loss, [w, bias, frozen]);
    const got = variableGradsFreeing(loss, [w, bias, frozen]);
    expect(got.value.arraySync()).toBeCloseTo(want.value.arraySync(), 4);
    expect(Object.keys(got.grads).sort()).toEqual(['freeing-b', 'freeing-w']);
    for (const name of ['freeing-w', 'freeing-b']) expectClose(got.grads[name]!, want.grads[name]!);
    tf.dispose([
      want.value,
      got.value,
      ...Object.values(got.grads),
      ...Object.values(want.grads).filter((g): g is tf.Tensor => g !== null),
    ]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('needs less memory than tf.variableGrads for the same step', async () => {
    const deep = () =>
      tf.tidy(() => {
        let h: tf.Tensor = tf.matMul(x, w);
        for (let i = 0; i < 8; i++) h = tf.add(tf.reshape(tf.mul(tf.add(h, bias), 0.9), [3, 6]), 0.1);
        return tf.sum(tf.square(h)) as tf.Scalar;
      });
    const stock = await measureStep(() => tf.dispose(Object.values(tf.variableGrads(deep, [w, bias]).grads) as tf.Tensor[]));
    const freeing = await measureStep(() => {
      const r = variableGradsFreeing(deep, [w, bias]);
      tf.dispose([r.value, ...Object.values(r.grads)]);
    });
    expect(freeing.peakBufferBytes).toBeLessThan(stock.peakBufferBytes);
  });
});

describe('fused attention under variableGradsFreeing', () => {
  it('skips the gradients of constant keys and values and still gets the queries right', () => {
    const q = tf.variable(tf.randomNormal([2, 2, 3, 4], 0, 1, 'float32', 21), true, 'att-q');
    const k = tf.randomNormal([2, 2, 5, 4], 0, 1, 'float32', 22);
    const v = tf.randomNormal([2, 2, 5, 4], 0, 1, 'float32', 23);
    const f = (att: (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.Tensor) => () => tf.sum(tf.square(att(q, k, v))) as tf.Scalar;
    const before = tf.memory().numTensors;
    const got = variableGradsFreeing(
      f((a, b, c) => attention(a, b, c).out),
      [q],
    );
    const want = tf.variableGrads(f(refAttention), [q]);
    expectClose(got.grads['att-q']!, want.grads['att-q']!);
    tf.dispose([got.value, want.value, got.grads['att-q']!, want.grads['att-q']!]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([q, k, v]);
  });
});

describe('trackBuffers', () => {
  it('counts a buffer once however many views and clones share it', () => {
    const t = trackBuffers();
    try {
      const a = tf.zeros([256]);
      const views = [tf.reshape(a, [16, 16]), tf.clone(a), tf.reshape(a, [4, 64])];
      expect(t.live()).toBe(1024);
      a.dispose();
      expect(t.live()).toBe(1024);
      tf.dispose(views);
      expect(t.live()).toBe(0);
      expect(t.peak()).toBe(1024);
    } finally {
      t.stop();
    }
  });

  it('splits its peak into phases where they are marked, and a gradient marks the end of its forward pass', async () => {
    const t = trackBuffers();
    try {
      const a = tf.zeros([256]); // 1 KiB in the first phase
      a.dispose();
      markBufferPhase();
      const b = tf.zeros([512]); // 2 KiB in the second
      expect(t.phasePeaks()).toEqual([1024, 2048]);
      expect(t.peak()).toBe(2048);
      b.dispose();
      t.resetPeak();
      expect(t.phasePeaks()).toEqual([0]);
    } finally {
      t.stop();
    }
    // A training step: the forward pass, then the backward pass, each with its own peak.
    const w = tf.variable(tf.ones([64, 64]));
    const x = tf.ones([32, 64]);
    const before = tf.memory().numTensors;
    const m = await measureStep(() => {
      const r = variableGradsFreeing(() => tf.sum(tf.square(tf.matMul(x, w))), [w]);
      tf.dispose([r.value, ...Object.values(r.grads)]);
    });
    expect(m.phasePeakBufferBytes).toHaveLength(2);
    expect(Math.max(...m.phasePeakBufferBytes)).toBe(m.peakBufferBytes);
    // The forward pass holds x w (8 KiB) and its square; the backward pass also the gradient of w (16 KiB).
    expect(m.phasePeakBufferBytes[1]!).toBeGreaterThan(m.phasePeakBufferBytes[0]!);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([w, x]);
  });
});
