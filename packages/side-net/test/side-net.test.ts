import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { parameterReport } from '@fpt/core';
import { vitForward } from '@fpt/backbone-vit';
import { createSideNet, sideForward, sideNetConfig, sideVitConfig } from '../src/index';

describe('side network', () => {
  it('has the paper\'s defaults and exactly 751,877 parameters for C = 5', () => {
    const c = sideNetConfig(5);
    expect(c).toEqual({ hiddenSize: 96, numLayers: 6, numHeads: 12, mlpDim: 384, patchSize: 16, imageSize: 128, layerNormEps: 1e-12, numClasses: 5 });
    const side = createSideNet(c);
    expect(parameterReport(side).total).toBe(751_877);
    side.dispose();
  });

  it('is initialised like timm: truncated normal 0.02, zero biases, LayerNorm 1/0', () => {
    const side = createSideNet(sideNetConfig(5), 3);
    const w = Array.from(side.get('blocks.0.mlp.fc1.weight').dataSync());
    const sd = Math.sqrt(w.reduce((a, x) => a + x * x, 0) / w.length);
    expect(w.reduce((a, x) => Math.max(a, Math.abs(x)), 0)).toBeLessThanOrEqual(0.04 + 1e-7);
    expect(sd).toBeGreaterThan(0.016); // a normal truncated at 2 sd has sd 0.88 x 0.02
    expect(sd).toBeLessThan(0.019);
    expect(Array.from(side.get('blocks.0.mlp.fc1.bias').dataSync()).every((x) => x === 0)).toBe(true);
    expect(Array.from(side.get('norm.weight').dataSync()).every((x) => x === 1)).toBe(true);
    side.dispose();
  });

  it('without extra tokens it is the plain ViT; extra tokens change the logits; nothing leaks', () => {
    const side = createSideNet(sideNetConfig(3, { hiddenSize: 16, numHeads: 4, mlpDim: 32, numLayers: 2, patchSize: 8, imageSize: 16 }), 1);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = tf.randomNormal([2, 3, 16, 16], 0, 1, 'float32', 1);
      const plain = sideForward(side, x);
      expect(plain.shape).toEqual([2, 3]);
      expect(Array.from(plain.dataSync())).toEqual(Array.from(vitForward(side, x).logits!.dataSync()));
      const extra = sideForward(side, x, { extraTokens: (i) => (i === 1 ? tf.ones([2, 4, 16]) : undefined) });
      expect(tf.max(tf.abs(tf.sub(extra, plain))).dataSync()[0]).toBeGreaterThan(1e-4);
    });
    expect(tf.memory().numTensors).toBe(before);
    side.dispose();
  });

  it('needs at least one class', () => {
    expect(() => sideVitConfig(sideNetConfig(0))).toThrow('sideNetConfig: "numClasses" must be a positive integer, got 0');
  });
});
