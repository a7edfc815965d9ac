import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, trainStep } from '@fpt/core';
import { createVit, vitConfig, type Batch } from '@fpt/backbone-vit';
import { benchPreset } from '../src/run/presets';
import { makeMethod, trainableMethods } from '../src/commands/methods';
import { buildTrainable, type Trainable } from '../src/run/trainable';
import { microBatches } from '../src/run/memory-plan';

// Gradient accumulation in the runner: for every method, a step over micro-batches of a batch
// (each micro-batch's tensors made in its own loss, its gradients weighted by its share, dropout
// drawn per image from its index in the whole batch) updates the parameters as one step over the
// whole batch does.

const LPM = vitConfig({ hiddenSize: 16, numLayers: 2, numHeads: 2, mlpDim: 32, patchSize: 8, imageSize: 32, numClasses: 0 });
const B = 6;
const cache = mkdtempSync(join(tmpdir(), 'fpt-accumulate-'));
afterAll(() => rmSync(cache, { recursive: true, force: true }));

/** The tiny preset's options, with dropout on wherever a method has it (so the masks are compared too). */
function options(method: string): Record<string, string> {
  const o = { ...benchPreset('tiny').methodOptions[method] };
  if (method === 'lora') o.dropout = '0.3';
  return o;
}

function build(method: string): Trainable {
  return buildTrainable({
    method,
    options: options(method),
    make: makeMethod,
    numClasses: 3,
    seed: 0,
    lpm: createVit(LPM, { seed: 5 }),
    lpmInputSize: 32,
  });
}

describe('gradient accumulation equals the whole batch', () => {
  it.each(trainableMethods())('%s: micro-batches of 4+2 and of 1 give the whole batch step', async (method) => {
    const before = tf.memory().numTensors;
    const images = Array.from({ length: B }, (_, i) => ({
      hash: `${method}-${i}`.padEnd(64, '0'),
      lpm: tf.randomUniform([3, 32, 32], -1, 1, 'float32', 10 + i),
    }));
    const labels = [0, 1, 2, 2, 1, 0];
    const runs: Array<{ size: number; t: Trainable; opt: AdamW }> = [];
    for (const size of [B, 4, 1]) {
      const t = build(method);
      await t.preload?.(
        images.map((im) => ({ hash: im.hash, pixels: () => tf.clone(im.lpm) })),
        cache,
        { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
      );
      // eps 1 makes AdamW's update linear in the gradient (g / (|g| + 1) ~ g): with the usual 1e-8,
      // the first step is lr * sign(g), and near-zero gradients turn float rounding into whole steps.
      runs.push({ size, t, opt: new AdamW(t.trainableVariables(), { lr: 1, eps: 1, weightDecay: 0.1 }) });
    }
    const [reference] = runs;
    if (!reference) throw new Error('no micro-batch sizes to compare');
    const { pixelSize } = reference.t;
    const pixels = Array.from({ length: B }, (_, i) => tf.randomUniform([3, pixelSize, pixelSize], -1, 1, 'float32', 40 + i));
    for (let step = 0; step < 2; step++) {
      const ctx = { training: true, seed: 77 + step, step };
      const losses = runs.map(({ size, t, opt }) => {
        const parts = microBatches(B, size).map(([a, b]) => ({
          weight: (b - a) / B,
          loss: () => {
            const batch: Batch = { pixels: tf.stack(pixels.slice(a, b)), extras: t.extras?.(images.slice(a, b).map((im) => im.hash)) };
            return t.loss(batch, tf.tensor1d(labels.slice(a, b), 'int32'), { ...ctx, sampleOffset: a });
          },
        }));
        const [only, ...more] = parts;
        return trainStep(only && more.length === 0 ? only.loss : parts, opt, { clipNorm: 1 }).loss;
      });
      const [first, ...others] = losses;
      for (const l of others) expect(Math.abs(l - first!)).toBeLessThan(1e-5); // others is empty without a first
    }
    // Compare the updates (parameters after minus before), relative to the largest update.
    const fresh = build(method);
    const start = fresh.trainableVariables().map((v) => v.dataSync() as Float32Array);
    fresh.dispose();
    const [whole, ...accumulated] = runs.map(({ t }) =>
      t.trainableVariables().map((v, i) => v.dataSync().map((x, j) => x - start[i]![j]!)),
    ); // the same variables, in order
    if (!whole) throw new Error('no run with the whole batch');
    const largest = Math.max(...whole.map((d) => Math.max(...d.map(Math.abs))));
    // The steps did move the parameters (a comparison of nothing could not fail).
    expect(largest).toBeGreaterThan(1e-3);
    for (const deltas of accumulated) {
      let worst = 0;
      deltas.forEach((d, i) => d.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - whole[i]![j]!)))));
      expect(worst / largest).toBeLessThan(1e-4);
    }
    for (const r of runs) {
      r.opt.dispose();
      r.t.dispose();
    }
    tf.dispose([...pixels, ...images.map((im) => im.lpm)]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
