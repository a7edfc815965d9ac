import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { parameterReport } from '@fpt/core';
import { createVit, vitConfig } from '@fpt/backbone-vit';
import { fptPlus } from '@fpt/fpt-plus';
import { estimateFullFinetuneMemory, leastSquares } from '../src/memory/extrapolate';
import { methodStepMemory, fullFinetuneStepMemory } from '../src/memory/steps';

describe('memory accounting', () => {
  it('least squares recovers the coefficients of an exact linear system', () => {
    const coef = [3, -2, 0.5];
    const rows = [
      [1, 2, 3],
      [1, 0, 1],
      [1, 5, -2],
      [1, 1, 1],
      [1, -3, 4],
    ];
    const y = rows.map((r) => r.reduce((a, x, i) => a + x * coef[i], 0));
    leastSquares(rows, y).forEach((c, i) => expect(c).toBeCloseTo(coef[i], 9));
  });

  it('measures real steps without leaking, and grows with the batch', async () => {
    const before = tf.memory().numTensors;
    const cfg = vitConfig({ hiddenSize: 24, numLayers: 2, numHeads: 2, patchSize: 8, imageSize: 16, numClasses: 3 });
    const one = await fullFinetuneStepMemory(cfg, 16, 1);
    const two = await fullFinetuneStepMemory(cfg, 16, 2);
    expect(two.peakBytes).toBeGreaterThan(one.peakBytes);
    const lpm = vitConfig({
      hiddenSize: 32,
      numLayers: 2,
      numHeads: 4,
      patchSize: 8,
      imageSize: 16,
      numClasses: 0,
      layerNormEps: 1e-12,
      posEmbedResample: 'hf',
    });
    const fpt = await methodStepMemory(
      lpm,
      fptPlus({ inputSize: 16, layers: [1], side: { hiddenSize: 8, numHeads: 2, mlpDim: 16, patchSize: 8, imageSize: 16 } }),
      2,
      3,
    );
    expect(fpt.peakBytes).toBeGreaterThan(0);
    const lpmModel = createVit(lpm, { init: 'zeros' });
    expect(fpt.excludedBytes).toBe(4 * parameterReport(lpmModel).total);
    lpmModel.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('the extrapolation predicts a held-out real step closely', async () => {
    const target = vitConfig({ hiddenSize: 96, numLayers: 4, numHeads: 4, patchSize: 8, imageSize: 64, numClasses: 3 });
    const est = await estimateFullFinetuneMemory(target, 64, 4);
    const real = await fullFinetuneStepMemory(target, 64, 4);
    expect(Math.abs(est.validation.relativeError)).toBeLessThan(0.05);
    expect(Math.abs(est.peakBytes - real.peakBytes) / real.peakBytes).toBeLessThan(0.05);
  });
});
