import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, trainStep } from '@fpt/core';
import { adapt, createVit, EVAL, trainingContext, vitB16Hf384, type AdaptedModel, type Method } from '@fpt/backbone-vit';
import { dora, ia3, linearProbe } from '../src/index';
import { batch, expectNear, tinyBackbone } from './helpers';

// Plain float64 arrays for the references: computed here from the published formulas, independently
// of the methods' tensor code. They index by the tiny model's sizes, in range by construction.
type Matrix = number[][];
const matrix = (t: tf.Tensor): Matrix => t.arraySync() as Matrix;
const vector = (t: tf.Tensor): number[] => Array.from(t.dataSync());
const matmulT = (x: Matrix, w: Matrix): Matrix => x.map((row) => w.map((wr) => wr.reduce((a, v, i) => a + v * row[i]!, 0))); // x W^T
const close = (a: Matrix, b: Matrix, tol: number) => {
  expect(a.length).toBe(b.length);
  a.forEach((row, i) => expectNear(row, b[i] ?? [], tol, `row ${i}`));
};

/** Sets every parameter of a method whose name ends with `suffix` to seeded random values. */
function randomise(m: AdaptedModel, suffix: string, mean: number, std: number): void {
  let seed = 11;
  for (const p of m.module.namedParameters()) {
    if (p.name.endsWith(suffix)) tf.tidy(() => p.variable.assign(tf.randomNormal(p.variable.shape, mean, std, 'float32', seed++)));
  }
}

describe('DoRA and (IA)³ counts on ViT-B/16 (HF) with C = 5', () => {
  const vitB = createVit(vitB16Hf384(), { init: 'zeros' });
  afterAll(() => vitB.dispose());
  const learnable = (method: Method) => {
    const m = adapt(vitB, [method], { numClasses: 5 });
    const n = m.counts().learnable;
    m.dispose();
    return n;
  };

  it("DoRA: LoRA's rank 16 on q and v (589,824) + a magnitude per output feature (24 x 768) + head 3,845 = 612,101", () => {
    expect(learnable(dora())).toBe(612_101);
    expect(learnable(dora())).toBe(589_824 + 24 * 768 + 3_845);
  });

  it('(IA)³: key and value outputs (2 x 768) and the fc2 input (3,072) per block + head 3,845 = 59,141', () => {
    expect(learnable(ia3())).toBe(59_141);
    expect(learnable(ia3())).toBe(12 * (768 + 768 + 3072) + 3_845);
  });
});

describe("DoRA follows its formula: W' = m (W + s B A) / ||W + s B A|| per output feature", () => {
  it("the hooked qkv output equals x W'^T + b computed from the weights, q and v rescaled, k untouched", () => {
    const backbone = tinyBackbone();
    const m = adapt(backbone, [dora({ rank: 4, alpha: 8 })], { numClasses: 3 });
    randomise(m, 'lora_B', 0, 0.2);
    randomise(m, 'lora_magnitude_vector', 3, 0.5);
    const layer = 'blocks.1.attn.qkv';
    const x = tf.randomNormal([5, 32], 0, 1, 'float32', 3);
    const W = matrix(backbone.get(`${layer}.weight`));
    const b = vector(backbone.get(`${layer}.bias`));
    // Reference: rows of q (0..31) and v (64..95) replaced by m * (W + s B A) / ||.||, k (32..63) as is.
    const s = 8 / 4;
    const ref = W.map((row) => [...row]);
    for (const [slice, offset] of [
      ['q', 0],
      ['v', 64],
    ] as const) {
      const A = matrix(m.module.get(`dora.${layer}.${slice}.lora_A`));
      const B = matrix(m.module.get(`dora.${layer}.${slice}.lora_B`));
      const mag = vector(m.module.get(`dora.${layer}.${slice}.lora_magnitude_vector`));
      for (let r = 0; r < 32; r++) {
        const dir = W[offset + r]!.map((w, c) => w + s * B[r]!.reduce((a, bv, k) => a + bv * A[k]![c]!, 0));
        const norm = Math.sqrt(dir.reduce((a, v) => a + v * v, 0));
        ref[offset + r] = dir.map((v) => (mag[r]! * v) / norm);
      }
    }
    const expected = matmulT(matrix(x), ref).map((row) => row.map((v, j) => v + b[j]!));
    const got = tf.tidy(() => {
      const y = tf.add(tf.matMul(x, backbone.get(`${layer}.weight`), false, true), backbone.get(`${layer}.bias`));
      return matrix(m.stack.hooks(EVAL).linear!(layer, x, y));
    });
    close(got, expected, 1e-4);
    x.dispose();
    m.dispose();
    backbone.dispose();
  });

  it('starts as the backbone (B = 0, m = ||W||), merges to the same outputs and unmerges to the weights', () => {
    const backbone = tinyBackbone();
    const { pixels } = batch();
    // The plain backbone under the same head (same seed): DoRA at initialisation must give its logits.
    const probe = adapt(backbone, [linearProbe()], { numClasses: 3, seed: 4 });
    const plain = tf.tidy(() => vector(probe.forward({ pixels })));
    probe.dispose();
    const m = adapt(backbone, [dora({ rank: 4 })], { numClasses: 3, seed: 4 });
    const logits = () => tf.tidy(() => vector(m.forward({ pixels })));
    const w0 = vector(backbone.get('blocks.0.attn.qkv.weight'));
    expectNear(logits(), plain, 1e-5);
    randomise(m, 'lora_B', 0, 0.2);
    randomise(m, 'lora_magnitude_vector', 2, 0.3);
    const unmerged = logits();
    m.merge();
    expect(vector(backbone.get('blocks.0.attn.qkv.weight'))).not.toEqual(w0);
    expectNear(logits(), unmerged, 1e-4);
    expect(() => m.merge()).toThrow('dora: already merged');
    m.unmerge();
    expectNear(vector(backbone.get('blocks.0.attn.qkv.weight')), w0, 1e-5);
    expectNear(logits(), unmerged, 1e-5);
    pixels.dispose();
    m.dispose();
    backbone.dispose();
  });

  it('treats the norm as a constant in back-propagation, as peft does: gradients of m and B by the formula with n held fixed', () => {
    const backbone = tinyBackbone();
    const m = adapt(backbone, [dora({ rank: 2 })], { numClasses: 3 });
    randomise(m, 'lora_B', 0, 0.2);
    randomise(m, 'lora_magnitude_vector', 2, 0.3);
    const layer = 'blocks.0.attn.qkv';
    const mag = m.module.get(`dora.${layer}.q.lora_magnitude_vector`);
    const B = m.module.get(`dora.${layer}.q.lora_B`);
    const x = tf.randomNormal([3, 32], 0, 1, 'float32', 8);
    const y0 = tf.tidy(() => tf.add(tf.matMul(x, backbone.get(`${layer}.weight`), false, true), backbone.get(`${layer}.bias`)));
    // d/dm of sum(y[:, q rows]) with n held constant: sum over the batch of (W + s B A) x / n.
    const { grads } = tf.variableGrads(() => tf.sum(tf.slice(m.stack.hooks(EVAL).linear!(layer, x, y0), [0, 0], [-1, 32])) as tf.Scalar, [
      mag,
      B,
    ] as tf.Variable[]);
    const W = matrix(backbone.get(`${layer}.weight`)).slice(0, 32);
    const A = matrix(m.module.get(`dora.${layer}.q.lora_A`));
    const Bm = matrix(B);
    const s = 16 / 2;
    const dir = W.map((row, r) => row.map((w, c) => w + s * Bm[r]!.reduce((a, bv, k) => a + bv * A[k]![c]!, 0)));
    const norms = dir.map((row) => Math.sqrt(row.reduce((a, v) => a + v * v, 0)));
    const xs = matrix(x);
    const expected = dir.map((row, r) => xs.reduce((a, xr) => a + row.reduce((acc, v, c) => acc + v * xr[c]!, 0), 0) / norms[r]!);
    const [gMag, gB] = [grads[mag.name], grads[B.name]];
    if (!gMag || !gB) throw new Error('no gradient for the magnitude or B');
    const gotMag = vector(gMag);
    expect(gotMag.length).toBe(expected.length);
    expected.forEach((want, r) => expect(Math.abs(gotMag[r]! - want)).toBeLessThan(1e-3 * Math.max(1, Math.abs(want))));
    // d/dB[r, k] with n constant: (m_r / n_r) s sum_c A[k, c] X_c, X the batch's summed inputs; a
    // gradient through the norm would add a term.
    const X = xs[0]!.map((_, c) => xs.reduce((a, row) => a + row[c]!, 0));
    const m0 = vector(mag);
    const expectedB = Bm.map((row, r) => row.map((_, k) => (m0[r]! / norms[r]!) * s * A[k]!.reduce((a, v, c) => a + v * X[c]!, 0)));
    close(matrix(gB), expectedB, 1e-3);
    tf.dispose([x, y0, ...Object.values(grads)]);
    m.dispose();
    backbone.dispose();
  });

  it('refuses bad options under its own name', () => {
    expect(() => dora({ rank: 0 })).toThrow('dora: option "rank" must be a positive integer, got 0');
    const backbone = tinyBackbone();
    expect(() => adapt(backbone, [dora({ targets: ['nope'] })])).toThrow('dora: target "nope" matches no layer');
    backbone.dispose();
  });
});

describe('(IA)³ follows its formula: y = l ⊙ (W x + b) for keys and values, fc2(l ⊙ h) for the feed-forward', () => {
  it('scales the key and value outputs (bias included), not the query, and the fc2 input', () => {
    const backbone = tinyBackbone();
    const m = adapt(backbone, [ia3()], { numClasses: 3 });
    randomise(m, 'ia3_l', 1, 0.5);
    const hooks = m.stack.hooks(EVAL);
    const x = tf.randomNormal([4, 32], 0, 1, 'float32', 5);
    const layer = 'blocks.0.attn.qkv';
    const W = matrix(backbone.get(`${layer}.weight`));
    const b = vector(backbone.get(`${layer}.bias`));
    const lk = vector(m.module.get(`ia3.${layer}.k.ia3_l`));
    const lv = vector(m.module.get(`ia3.${layer}.v.ia3_l`));
    const scale = [...new Array<number>(32).fill(1), ...lk, ...lv];
    const expected = matmulT(matrix(x), W).map((row) => row.map((v, j) => (v + b[j]!) * scale[j]!));
    const got = tf.tidy(() => {
      const y = tf.add(tf.matMul(x, backbone.get(`${layer}.weight`), false, true), backbone.get(`${layer}.bias`));
      return matrix(hooks.linear!(layer, x, y));
    });
    close(got, expected, 1e-4);
    const h = tf.randomNormal([4, 64], 0, 1, 'float32', 6);
    const lf = vector(m.module.get('ia3.blocks.1.mlp.fc2.ia3_l'));
    close(
      tf.tidy(() => matrix(hooks.linearInput!('blocks.1.mlp.fc2', h))),
      matrix(h).map((row) => row.map((v, j) => v * lf[j]!)),
      1e-6,
    );
    expect(tf.tidy(() => matrix(hooks.linearInput!('blocks.1.mlp.fc1', h)))).toEqual(matrix(h)); // not a feed-forward target
    tf.dispose([x, h]);
    m.dispose();
    backbone.dispose();
  });

  it('starts as the backbone (ones), merges to the same outputs and unmerges to the weights; a zero scale is not merged', () => {
    const backbone = tinyBackbone();
    const { pixels } = batch();
    const m = adapt(backbone, [ia3()], { numClasses: 3 });
    const logits = () => tf.tidy(() => vector(m.forward({ pixels })));
    const w0 = { qkv: vector(backbone.get('blocks.0.attn.qkv.weight')), fc2: vector(backbone.get('blocks.0.mlp.fc2.weight')) };
    randomise(m, 'ia3_l', 1, 0.3);
    const unmerged = logits();
    m.merge();
    expect(vector(backbone.get('blocks.0.mlp.fc2.weight'))).not.toEqual(w0.fc2);
    expectNear(logits(), unmerged, 1e-4);
    m.unmerge();
    expectNear(vector(backbone.get('blocks.0.attn.qkv.weight')), w0.qkv, 1e-5);
    expectNear(vector(backbone.get('blocks.0.mlp.fc2.weight')), w0.fc2, 1e-5);
    tf.tidy(() => m.module.get('ia3.blocks.0.mlp.fc2.ia3_l').assign(tf.zeros([64])));
    expect(() => m.merge()).toThrow('ia3: cannot merge: a scale is 0, which unmerging could not undo');
    expect(m.stack.mergeable()!.isMerged()).toBe(false);
    pixels.dispose();
    m.dispose();
    backbone.dispose();
  });

  it('refuses a feed-forward layer that is not a target, naming the option', () => {
    expect(() => ia3({ feedforward: ['mlp.fc1'] })).toThrow(
      'ia3: option "feedforward" holds mlp.fc1, which "targets" does not: each must be a target',
    );
    expect(() => ia3({ qkvSlices: [] })).toThrow('ia3: option "qkvSlices" must be distinct slices among q, k, v; got ""');
  });
});

describe('DoRA and (IA)³ train on a step without leaking', () => {
  for (const method of [() => dora({ rank: 2 }), () => ia3()]) {
    it(`${method().name}: a step changes its parameters, no tensor survives the step`, () => {
      const backbone = tinyBackbone();
      const m = adapt(backbone, [method()], { numClasses: 3 });
      const { pixels, labels } = batch();
      const opt = new AdamW(m.trainableVariables(), { lr: 1e-2, weightDecay: 0 });
      trainStep(() => m.loss({ pixels }, labels, trainingContext(0)), opt);
      const before = tf.memory().numTensors;
      const own = new Map(m.module.namedParameters().map((p) => [p.name, vector(p.variable)]));
      trainStep(() => m.loss({ pixels }, labels, trainingContext(1)), opt);
      expect(tf.memory().numTensors).toBe(before);
      const changed = m.module.namedParameters().filter((p) => vector(p.variable).some((v, i) => v !== own.get(p.name)![i]));
      expect(changed.length).toBe(m.module.namedParameters().length); // every parameter moves once B is off zero
      opt.dispose();
      tf.dispose([pixels, labels]);
      m.dispose();
      backbone.dispose();
    });
  }
});
