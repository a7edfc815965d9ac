import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { parameterReport } from '@fpt/core';
import { vitForward } from '@fpt/backbone-vit';
import { createSideNet, sideForward, sideNetConfig, sideVitConfig } from '../src/index';

// timm's trunc_normal_(std=.02) cuts at the absolute values +-2 (100 std): in effect N(0, 0.02^2).
const TRUNCATED_STD = 0.02;

/** A small side ViT for forward tests: 16 wide, 2 deep, 4 heads, 16 px in patches of 8 (5 tokens). */
const small = (classes = 3, seed = 1) =>
  createSideNet(sideNetConfig(classes, { hiddenSize: 16, numHeads: 4, mlpDim: 32, numLayers: 2, patchSize: 8, imageSize: 16 }), seed);

describe('sideNetConfig', () => {
  it('has the paper defaults: 96 wide, 6 deep, 12 heads, MLP 384, patch 16, input 128, eps 1e-12', () => {
    expect(sideNetConfig(5)).toEqual({
      hiddenSize: 96,
      numLayers: 6,
      numHeads: 12,
      mlpDim: 384,
      patchSize: 16,
      imageSize: 128,
      layerNormEps: 1e-12,
      numClasses: 5,
    });
  });

  it('takes overrides', () => {
    expect(sideNetConfig(2, { numLayers: 12, imageSize: 224 })).toMatchObject({
      numLayers: 12,
      imageSize: 224,
      hiddenSize: 96,
      numClasses: 2,
    });
    expect(sideVitConfig(sideNetConfig(5))).toMatchObject({ numChannels: 3, posEmbedResample: 'hf', layerNormEps: 1e-12 });
  });

  it('refuses a negative or fractional class count, naming the option (0: no head)', () => {
    expect(() => createSideNet(sideNetConfig(-1))).toThrow(
      'sideNetConfig: "numClasses" must be a non-negative integer (0: no head), got -1',
    );
    const headless = createSideNet(sideNetConfig(0));
    expect(headless.has('head.weight')).toBe(false);
    headless.dispose();
    expect(() => sideVitConfig(sideNetConfig(2.5))).toThrow(/"numClasses"/);
    expect(() => sideVitConfig(sideNetConfig(5, { numHeads: 7 }))).toThrow(/"numHeads"/);
  });
});

describe('createSideNet (docs/method.md, parameter counts)', () => {
  it('has exactly 751,877 parameters for 5 classes, split as the design says', () => {
    const side = createSideNet(sideNetConfig(5));
    const report = parameterReport(side, { depth: 1 });
    expect(report.total).toBe(751_877);
    expect(report.trainable).toBe(751_877);
    expect(Object.fromEntries(report.groups.map((g) => [g.name, g.total]))).toEqual({
      cls_token: 96,
      pos_embed: 6_240,
      patch_embed: 73_824,
      blocks: 6 * 111_840,
      norm: 192,
      head: 485,
    });
    expect(parameterReport(side, { depth: 2 }).groups.find((g) => g.name === 'blocks.5')?.total).toBe(111_840);
    side.dispose();
  });

  it('is initialised like timm: trunc_normal_ std 0.02 within +-2, zero biases, LayerNorm 1/0', () => {
    const side = createSideNet(sideNetConfig(5), 3);
    const weights = [
      'cls_token',
      'pos_embed',
      'patch_embed.proj.weight',
      'blocks.0.attn.qkv.weight',
      'blocks.3.attn.proj.weight',
      'blocks.5.mlp.fc1.weight',
      'blocks.5.mlp.fc2.weight',
      'head.weight',
    ];
    let all: number[] = [];
    for (const name of weights) {
      const w = Array.from(side.get(name).dataSync());
      expect(
        w.reduce((m, x) => Math.max(m, Math.abs(x)), 0),
        name,
      ).toBeLessThanOrEqual(0.2); // 10 std: never in practice
      expect(new Set(w).size, name).toBeGreaterThan(w.length / 2); // really random
      all = all.concat(w);
    }
    const mean = all.reduce((a, x) => a + x, 0) / all.length;
    const sd = Math.sqrt(all.reduce((a, x) => a + (x - mean) ** 2, 0) / all.length);
    expect(Math.abs(mean)).toBeLessThan(1e-3);
    expect(sd / TRUNCATED_STD).toBeGreaterThan(0.9);
    expect(sd / TRUNCATED_STD).toBeLessThan(1.1);
    // A large tensor alone is also within 10 %.
    const fc1 = Array.from(side.get('blocks.2.mlp.fc1.weight').dataSync());
    const sdFc1 = Math.sqrt(fc1.reduce((a, x) => a + x * x, 0) / fc1.length);
    expect(sdFc1 / TRUNCATED_STD).toBeGreaterThan(0.9);
    expect(sdFc1 / TRUNCATED_STD).toBeLessThan(1.1);
    for (const { name, variable } of side.namedParameters()) {
      const v = variable.dataSync();
      const isNorm = /(^|\.)norm\d?\.(weight|bias)$/.test(name);
      if (isNorm && name.endsWith('.weight'))
        expect(
          v.every((x) => x === 1),
          name,
        ).toBe(true);
      else if (name.endsWith('.bias'))
        expect(
          v.every((x) => x === 0),
          name,
        ).toBe(true);
    }
    side.dispose();
  });

  it('is reproducible by seed', () => {
    const a = small(3, 4);
    const b = small(3, 4);
    const c = small(3, 5);
    const w = (m: typeof a) => Array.from(m.get('blocks.1.attn.qkv.weight').dataSync());
    expect(w(b)).toEqual(w(a));
    expect(w(c)).not.toEqual(w(a));
    [a, b, c].forEach((m) => m.dispose());
  });
});

describe('sideForward', () => {
  it('gives logits [B, C] at the paper size (128 px, 6 layers, 16 prompts of width 96 per layer)', () => {
    const side = createSideNet(sideNetConfig(5));
    const before = tf.memory().numTensors;
    const layersAsked: number[] = [];
    const shape = tf.tidy(() => {
      const fused = tf.randomNormal([6, 1, 16, 96], 0, 1, 'float32', 1);
      const logits = sideForward(side, tf.randomNormal([1, 3, 128, 128], 0, 1, 'float32', 2), {
        extraTokens: (i) => {
          layersAsked.push(i);
          return tf.reshape(tf.slice(fused, [i, 0, 0, 0], [1, 1, 16, 96]), [1, 16, 96]);
        },
      });
      expect(Array.from(logits.dataSync()).every(Number.isFinite)).toBe(true);
      return logits.shape;
    });
    expect(shape).toEqual([1, 5]);
    expect(layersAsked).toEqual([0, 1, 2, 3, 4, 5]);
    expect(tf.memory().numTensors).toBe(before);
    side.dispose();
  });

  it("without extra tokens equals backbone-vit's vitForward logits for the same model", () => {
    const side = small();
    tf.tidy(() => {
      const x = tf.randomNormal([2, 3, 16, 16], 0, 1, 'float32', 1);
      const plain = sideForward(side, x);
      expect(plain.shape).toEqual([2, 3]);
      expect(Array.from(plain.dataSync())).toEqual(Array.from(vitForward(side, x).logits!.dataSync()));
      // and so does a callback that never supplies tokens
      expect(Array.from(sideForward(side, x, { extraTokens: () => undefined }).dataSync())).toEqual(Array.from(plain.dataSync()));
    });
    side.dispose();
  });

  it('extra tokens change the logits, per layer, and each sample only through its own tokens', () => {
    const side = small();
    tf.tidy(() => {
      const x = tf.randomNormal([2, 3, 16, 16], 0, 1, 'float32', 1);
      const plain = sideForward(side, x);
      const tokens = tf.randomNormal([2, 4, 16], 0, 1, 'float32', 2);
      for (const layer of [0, 1]) {
        const extra = sideForward(side, x, { extraTokens: (i) => (i === layer ? tokens : undefined) });
        expect(extra.shape).toEqual([2, 3]);
        expect(tf.max(tf.abs(tf.sub(extra, plain))).dataSync()[0], `layer ${layer}`).toBeGreaterThan(1e-4);
      }
      // Sample 0's logits in the batch of two equal its logits run alone with its own tokens.
      const pair = sideForward(side, x, { extraTokens: () => tokens });
      const alone = sideForward(side, tf.slice(x, [0, 0, 0, 0], [1, -1, -1, -1]), {
        extraTokens: () => tf.slice(tokens, [0, 0, 0], [1, -1, -1]),
      });
      const diff = tf.max(tf.abs(tf.sub(tf.slice(pair, [0, 0], [1, -1]), alone))).dataSync()[0];
      expect(diff).toBeLessThan(1e-5);
    });
    side.dispose();
  });

  it('extra tokens carry no position: permuting them leaves the logits unchanged', () => {
    const side = small();
    tf.tidy(() => {
      const x = tf.randomNormal([1, 3, 16, 16], 0, 1, 'float32', 3);
      const tokens = tf.randomNormal([1, 4, 16], 0, 1, 'float32', 4);
      const permuted = tf.gather(tokens, tf.tensor1d([2, 0, 3, 1], 'int32'), 1);
      const a = sideForward(side, x, { extraTokens: () => tokens });
      const b = sideForward(side, x, { extraTokens: () => permuted });
      expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-5);
    });
    side.dispose();
  });

  it('passes gradients to the extra tokens (the fused prompts) and to every side parameter', () => {
    const side = small();
    const x = tf.randomNormal([2, 3, 16, 16], 0, 1, 'float32', 5);
    const tokens = tf.variable(tf.randomNormal([2, 4, 16], 0, 1, 'float32', 6));
    const vars = side.trainableVariables();
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.square(sideForward(side, x, { extraTokens: () => tokens }))) as tf.Scalar,
      [tokens, ...vars],
    );
    // The largest gradient magnitude of a variable; 0 when it got no gradient.
    const max = (t: tf.Tensor | undefined) => (t ? tf.tidy(() => (tf.max(tf.abs(t)) as tf.Scalar).arraySync()) : 0);
    expect(max(grads[tokens.name])).toBeGreaterThan(0);
    for (const { name, variable } of side.namedParameters()) expect(max(grads[variable.name]), name).toBeGreaterThan(0);
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, tokens]);
    side.dispose();
  });
});
