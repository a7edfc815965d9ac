import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { parameterReport } from '@fpt/core';
import { createVit, vitConfig } from '@fpt/backbone-vit';
import { fptPlus } from '@fpt/fpt-plus';
import { totalmem } from 'node:os';
import { extrapolateStepMemory, leastSquares, predictFromFit, predictStepMemory } from '../src/memory/extrapolate';
import { budgetLine, paperShapeMemory, stepMemoryBudget } from '../src/memory/paper';
import { parseRunArgs } from '../src/commands/run';
import { PAPER_SHAPES, vitB16At512, type PaperShapes } from '../src/paper/paper';
import { cliMethod } from '../src/commands/methods';
import { parseChecks } from '../src/commands/memory';
import { methodStepMemory } from '../src/memory/steps';

describe('memory accounting', () => {
  it('least squares names rows of another width or a missing observation', () => {
    expect(() => leastSquares([[1, 2], [1]], [1, 2])).toThrow(/row 1 has 1 features, expected 2/);
    expect(() => leastSquares([[1], [2]], [1])).toThrow(/2 rows but 1 observations/);
    expect(() => leastSquares([], [])).toThrow(/no observations/);
  });

  it("predicts the larger of the phases' models, and the step's own model without them", () => {
    // The forward pass's peak is the larger at batch 1, the backward pass's from batch 3 on.
    const forward = { constant: 100, perLayer: 10, perImage: 1, perImageLayer: 1 };
    const backward = { constant: 50, perLayer: 10, perImage: 20, perImageLayer: 1 };
    const step = { constant: 0, perLayer: 0, perImage: 0, perImageLayer: 7 };
    const fit = { coefficients: step, phaseCoefficients: [forward, backward] };
    expect(predictFromFit(fit, 2, 1)).toBe(predictStepMemory(forward, 2, 1));
    expect(predictFromFit(fit, 2, 4)).toBe(predictStepMemory(backward, 2, 4));
    expect(predictFromFit({ coefficients: step }, 2, 4)).toBe(56);
  });

  it('least squares recovers the coefficients of an exact linear system', () => {
    const coef = [3, -2, 0.5] as const;
    const rows: [number, number, number][] = [
      [1, 2, 3],
      [1, 0, 1],
      [1, 5, -2],
      [1, 1, 1],
      [1, -3, 4],
    ];
    const y = rows.map(([a, b, c]) => a * coef[0] + b * coef[1] + c * coef[2]);
    const [a, b, c] = leastSquares(rows, y);
    expect(a).toBeCloseTo(coef[0], 9);
    expect(b).toBeCloseTo(coef[1], 9);
    expect(c).toBeCloseTo(coef[2], 9);
  });

  it('measures real steps without leaking, and grows with the batch', async () => {
    const before = tf.memory().numTensors;
    const cfg = vitConfig({ hiddenSize: 24, numLayers: 2, numHeads: 2, patchSize: 8, imageSize: 16, numClasses: 3 });
    const one = await methodStepMemory(cfg, cliMethod('full').make({}), 1, 3, 16);
    const two = await methodStepMemory(cfg, cliMethod('full').make({}), 2, 3, 16);
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

  // A small target with the same structure as ViT-B: deep enough for the held-out step to be an extrapolation.
  const target = vitConfig({ hiddenSize: 16, numLayers: 8, numHeads: 2, mlpDim: 64, patchSize: 4, imageSize: 32, numClasses: 0 });
  const shapes: PaperShapes = { lpm: target, imageSize: 32, batch: 6, numClasses: 3, label: 'test LPM at 32x32, batch 6, 3 classes' };

  it.each(['full', 'lora', 'adapter-houlsby', 'vpt-deep', 'linear', 'ssf'])(
    'the depth/batch extrapolation of %s predicts the held-out step and a real step at the target',
    async (name) => {
      const before = tf.memory().numTensors;
      const make = () => cliMethod(name).make({});
      const est = await extrapolateStepMemory(target, make, { imageSize: 32, batch: 6, numClasses: 3 });
      const real = await methodStepMemory(target, make(), 6, 3, 32);
      expect(est.samples.map((s) => [s.depth, s.batch])).toEqual([
        [2, 1],
        [2, 2],
        [3, 1],
        [3, 2],
      ]);
      expect(Math.abs(est.validation.relativeError)).toBeLessThan(0.01);
      expect(est.phaseCoefficients).toHaveLength(3); // forward, backward, update
      expect(est.predictedBytes).toBe(predictFromFit(est, 8, 6));
      expect(Math.abs(est.predictedBytes - real.peakBytes) / real.peakBytes).toBeLessThan(0.01);
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it('fits a target of at most 4 layers at its own depth over the batch, held out at batch 4', async () => {
    const shallow = vitConfig({ ...target, numLayers: 4 });
    const make = () => cliMethod('lora').make({});
    const est = await extrapolateStepMemory(shallow, make, { imageSize: 32, batch: 5, numClasses: 3 });
    expect(est.samples.map((s) => [s.depth, s.batch])).toEqual([
      [4, 2],
      [4, 3],
    ]);
    expect([est.validation.sample.depth, est.validation.sample.batch]).toEqual([4, 4]);
    expect(est.coefficients.perLayer).toBe(0);
    expect(est.coefficients.perImageLayer).toBe(0);
    const real = await methodStepMemory(shallow, make(), 5, 3, 32);
    expect(Math.abs(est.predictedBytes - real.peakBytes) / real.peakBytes).toBeLessThan(0.01);
  });

  it('takes a real step where the prediction fits the budget, else the extrapolation; FPT+ too', async () => {
    const make = () => cliMethod('lora').make({});
    const common = { options: {}, backend: 'test', shapes };
    const big = await paperShapeMemory(make, { ...common, budgetBytes: 2 ** 40 });
    const small = await paperShapeMemory(make, { ...common, budgetBytes: 1 });
    expect(big.how).toBe('measured');
    expect(small.how).toBe('extrapolated');
    expect(big.peakBytes).toBe((await methodStepMemory(target, make(), 6, 3, 32)).peakBytes);
    expect(small.peakBytes).toBe(small.extrapolation!.predictedBytes);
    expect(big.extrapolation!.predictedBytes).toBe(small.extrapolation!.predictedBytes);
    // Held out: the target's depth at batch 1 where the budget allows it, else depth 4 at batch 3.
    expect([big.extrapolation!.validation.sample.depth, big.extrapolation!.validation.sample.batch]).toEqual([8, 1]);
    expect([small.extrapolation!.validation.sample.depth, small.extrapolation!.validation.sample.batch]).toEqual([4, 3]);
    expect(small.shapes).toBe('test LPM at 32x32, batch 6, 3 classes');
    const fptMake = () =>
      fptPlus({ inputSize: 32, layers: [1, 5], side: { hiddenSize: 8, numHeads: 2, mlpDim: 16, patchSize: 8, imageSize: 16 } });
    // Every real step checks the budget first, FPT+'s (which trains from cached keys and values) too.
    const fptSmall = await paperShapeMemory(fptMake, { ...common, budgetBytes: 1 });
    const fptBig = await paperShapeMemory(fptMake, { ...common, budgetBytes: 2 ** 40, fit: fptSmall.extrapolation! });
    expect([fptSmall.how, fptBig.how]).toEqual(['extrapolated', 'measured']);
    expect(fptSmall.peakBytes).toBe(fptSmall.extrapolation!.predictedBytes);
    expect(Math.abs(fptSmall.peakBytes - fptBig.peakBytes) / fptBig.peakBytes).toBeLessThan(0.05);
    expect(fptSmall.excludedBytes).toBeGreaterThan(0);
    expect(fptBig.excludedBytes).toBe(fptSmall.excludedBytes);
  });

  it('parses --check pairs and names a malformed one', () => {
    expect(parseChecks('12x2, 8x1')).toEqual([
      { depth: 12, batch: 2 },
      { depth: 8, batch: 1 },
    ]);
    expect(parseChecks(undefined)).toEqual([]);
    expect(() => parseChecks('12x2,12')).toThrow('--check expects layers x batch pairs such as 12x2,8x2, got "12"');
    expect(() => parseChecks('0x2')).toThrow('got "0x2"');
  });

  it("names the paper's shapes and their variants", () => {
    expect(PAPER_SHAPES.label).toBe('ViT-B/16 LPM at 512x512, batch 16, 5-class head');
    expect([PAPER_SHAPES.imageSize, PAPER_SHAPES.batch, PAPER_SHAPES.numClasses, PAPER_SHAPES.lpm.hiddenSize]).toEqual([512, 16, 5, 768]);
    expect(vitB16At512(8, 2).label).toBe('ViT-B/16 LPM at 512x512, batch 8, 2-class head');
  });

  it('budgets three quarters of a capped heap, else half of the machine', () => {
    expect(stepMemoryBudget(4 * 2 ** 30)).toBe(3 * 2 ** 30);
    expect(stepMemoryBudget(null)).toBe(totalmem() / 2);
  });

  it('--memory-budget sets the budget, and on a GPU the line says how to give its memory', () => {
    expect(stepMemoryBudget(4 * 2 ** 30, 2 ** 30)).toBe(2 ** 30);
    expect(parseRunArgs(['--memory-budget', '60GiB']).memoryBudget).toBe(60 * 2 ** 30);
    expect(parseRunArgs([]).memoryBudget).toBeUndefined();
    expect(() => parseRunArgs(['--memory-budget', 'lots'])).toThrow(
      '--memory-budget="lots" is not a size: expected bytes, or a number with KiB, MiB or GiB (e.g. 4MiB)',
    );
    expect(budgetLine('webgpu', 8 * 2 ** 30, false)).toBe(
      "memory budget for a real step: 8.0 GiB, half of this host's memory: webgpu does not report the GPU's memory, so set --memory-budget to it (e.g. --memory-budget 60GiB on an 80 GB GPU)",
    );
    expect(budgetLine('webgpu', 60 * 2 ** 30, true)).toBe('memory budget for a real step: 60.0 GiB (--memory-budget)');
    expect(budgetLine('wasm', 3 * 2 ** 30, false)).toBe(
      "memory budget for a real step: 3.0 GiB (three quarters of WASM's 4 GiB heap; --memory-budget sets it)",
    );
  });
});
