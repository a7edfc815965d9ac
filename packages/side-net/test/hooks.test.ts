import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { clsToken, EVAL, MethodStack, vitForward } from '@fpt/backbone-vit';
import { vptDeep } from '@fpt/baselines';
import { createSideNet, sideFeatures, sideNetConfig } from '../src/index';

describe('methods on the side network', () => {
  it('VPT-deep on a side network equals the same model through the backbone forward (not VPT-shallow)', () => {
    const start = tf.memory().numTensors;
    const side = createSideNet(sideNetConfig(0, { hiddenSize: 16, numHeads: 2, mlpDim: 32, numLayers: 3, imageSize: 32 }), 3);
    const stack = new MethodStack(side, [vptDeep({ prompts: 2, seed: 1 })]);
    tf.tidy(() =>
      stack.module.get('vpt-deep.prompts').assign(tf.randomNormal(stack.module.get('vpt-deep.prompts').shape, 0, 1, 'float32', 9)),
    );
    const x = tf.randomNormal([2, 3, 32, 32], 0, 1, 'float32', 4);
    tf.tidy(() => {
      const hooks = stack.hooks(EVAL);
      const viaSide = sideFeatures(side, x, { hooks });
      const viaBackbone = clsToken(vitForward(side, x, { hooks, head: false }).features);
      expect(Array.from(viaSide.dataSync())).toEqual(Array.from(viaBackbone.dataSync()));
      // The deep prompts matter past the first block: only the embeddings hook (VPT-shallow) differs.
      const shallow = sideFeatures(side, x, { hooks: { embeddings: hooks.embeddings } });
      const diff = tf.max(tf.abs(tf.sub(viaSide, shallow))).dataSync()[0];
      expect(diff).toBeGreaterThan(1e-3);
      // With extra tokens per layer (FPT+'s fused prompts) the hooks still apply.
      const extra = tf.randomNormal([2, 4, 16], 0, 1, 'float32', 5);
      const withExtra = sideFeatures(side, x, { hooks, extraTokens: () => extra });
      expect(withExtra.shape).toEqual([2, 16]);
    });
    x.dispose();
    stack.dispose();
    side.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });
});
