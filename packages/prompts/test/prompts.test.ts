import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { fineGrainedPrompts, promptsForLayer, vptPrompts } from '../src/index';

function mean(x: Float32Array): number {
  let s = 0;
  for (const v of x) s += v;
  return s / x.length;
}

function std(x: Float32Array): number {
  const m = mean(x);
  let s = 0;
  for (const v of x) s += (v - m) ** 2;
  return Math.sqrt(s / x.length);
}

function values(t: tf.Tensor): Float32Array {
  const v = t.dataSync() as Float32Array;
  t.dispose();
  return v;
}

describe('fineGrainedPrompts', () => {
  it('has the layout [layers, 1, prompts, dim]', () => {
    const p = fineGrainedPrompts({ layers: 3, prompts: 5, dim: 7 });
    expect(p.shape).toEqual([3, 1, 5, 7]);
    expect(p.dtype).toBe('float32');
    p.dispose();
  });

  it('is drawn from N(0, (1e-6)^2) by default (large bank: sample std within 10 %, mean near 0)', () => {
    const v = values(fineGrainedPrompts({ layers: 6, prompts: 16, dim: 768, seed: 3 })); // 73,728 draws
    expect(std(v) / 1e-6).toBeGreaterThan(0.9);
    expect(std(v) / 1e-6).toBeLessThan(1.1);
    expect(Math.abs(mean(v))).toBeLessThan(2e-8); // about 5 standard errors
    // Normal, not uniform: about 68 % of the draws lie within one std.
    const within = v.filter((x) => Math.abs(x) < 1e-6).length / v.length;
    expect(within).toBeGreaterThan(0.66);
    expect(within).toBeLessThan(0.7);
  });

  it('honours a custom std', () => {
    const v = values(fineGrainedPrompts({ layers: 2, prompts: 16, dim: 512, std: 0.5, seed: 1 }));
    expect(std(v) / 0.5).toBeGreaterThan(0.9);
    expect(std(v) / 0.5).toBeLessThan(1.1);
  });

  it('is reproducible with the same seed and differs with another', () => {
    const cfg = { layers: 2, prompts: 4, dim: 8 };
    const a = Array.from(values(fineGrainedPrompts({ ...cfg, seed: 5 })));
    expect(Array.from(values(fineGrainedPrompts({ ...cfg, seed: 5 })))).toEqual(a);
    expect(Array.from(values(fineGrainedPrompts({ ...cfg, seed: 6 })))).not.toEqual(a);
    // The default seed is 0.
    expect(Array.from(values(fineGrainedPrompts(cfg)))).toEqual(Array.from(values(fineGrainedPrompts({ ...cfg, seed: 0 }))));
  });

  it('rejects non-positive or fractional sizes, naming the field', () => {
    expect(() => fineGrainedPrompts({ layers: 0, prompts: 16, dim: 8 })).toThrow(
      /fineGrainedPrompts: "layers" must be a positive integer, got 0/,
    );
    expect(() => fineGrainedPrompts({ layers: 1, prompts: -2, dim: 8 })).toThrow(/"prompts".*got -2/);
    expect(() => fineGrainedPrompts({ layers: 1, prompts: 2, dim: 0 })).toThrow(/"dim".*got 0/);
    expect(() => fineGrainedPrompts({ layers: 1.5, prompts: 2, dim: 4 })).toThrow(/"layers".*got 1.5/);
  });
});

describe('vptPrompts', () => {
  for (const [patchSize, dim] of [
    [16, 768],
    [8, 64],
  ] as const) {
    const bound = Math.sqrt(6 / (3 * patchSize * patchSize + dim));
    it(`patch ${patchSize}, dim ${dim}: uniform within +-sqrt(6 / (3 p^2 + D)) = ${bound.toFixed(4)}`, () => {
      const p = vptPrompts({ layers: 12, prompts: 16, dim, patchSize, seed: 2 });
      expect(p.shape).toEqual([12, 16, dim]);
      const v = values(p);
      let lo = Infinity;
      let hi = -Infinity;
      for (const x of v) {
        lo = Math.min(lo, x);
        hi = Math.max(hi, x);
      }
      expect(hi).toBeLessThanOrEqual(bound);
      expect(lo).toBeGreaterThanOrEqual(-bound);
      // The whole interval is used (not a narrower one).
      expect(hi).toBeGreaterThan(0.99 * bound);
      expect(lo).toBeLessThan(-0.99 * bound);
      // Roughly uniform: ten equal bins each hold about a tenth of the draws; std b / sqrt(3).
      const bins = new Array(10).fill(0);
      for (const x of v) bins[Math.min(9, Math.floor(((x + bound) / (2 * bound)) * 10))]++;
      for (const count of bins) expect(Math.abs(count / v.length - 0.1)).toBeLessThan(0.01);
      expect(std(v) / (bound / Math.sqrt(3))).toBeGreaterThan(0.98);
      expect(std(v) / (bound / Math.sqrt(3))).toBeLessThan(1.02);
    });
  }

  it('is reproducible with the same seed and differs with another', () => {
    const cfg = { layers: 1, prompts: 4, dim: 8, patchSize: 16 };
    const a = Array.from(values(vptPrompts({ ...cfg, seed: 1 })));
    expect(Array.from(values(vptPrompts({ ...cfg, seed: 1 })))).toEqual(a);
    expect(Array.from(values(vptPrompts({ ...cfg, seed: 2 })))).not.toEqual(a);
  });

  it('rejects non-positive or fractional sizes, naming the field', () => {
    expect(() => vptPrompts({ layers: 0, prompts: 2, dim: 8, patchSize: 16 })).toThrow(
      /vptPrompts: "layers" must be a positive integer, got 0/,
    );
    expect(() => vptPrompts({ layers: 1, prompts: 2.5, dim: 8, patchSize: 16 })).toThrow(/"prompts".*got 2.5/);
    expect(() => vptPrompts({ layers: 1, prompts: 2, dim: -8, patchSize: 16 })).toThrow(/"dim".*got -8/);
  });
});

describe('promptsForLayer', () => {
  // bank[l][m][k] = 100 l + 10 m + k, so every value says where it came from.
  const L = 3;
  const M = 2;
  const D = 4;
  const layerValues = (l: number) => Array.from({ length: M * D }, (_, i) => 100 * l + 10 * Math.floor(i / D) + (i % D));
  const flat = Array.from({ length: L }, (_, l) => layerValues(l)).flat();

  for (const [layout, shape] of [
    ['fine-grained [L, 1, M, D]', [L, 1, M, D]],
    ['VPT [L, M, D]', [L, M, D]],
  ] as const) {
    it(`${layout}: returns that layer broadcast to [B, M, D]`, () => {
      tf.tidy(() => {
        const bank = tf.tensor(flat, [...shape]);
        for (const layer of [0, 1, 2]) {
          for (const batch of [1, 3]) {
            const out = promptsForLayer(bank, layer, batch);
            expect(out.shape).toEqual([batch, M, D]);
            expect(Array.from(out.dataSync())).toEqual(Array.from({ length: batch }, () => layerValues(layer)).flat());
          }
        }
      });
    });
  }

  it('names a bank without a layer axis', () => {
    const flatBank = tf.zeros([4, 8]);
    expect(() => promptsForLayer(flatBank, 0, 2)).toThrow('promptsForLayer: prompts have shape [4,8], expected [layers, (1,) M, D]');
    flatBank.dispose();
  });

  it('leaks no tensor and keeps gradients flowing to the bank', () => {
    const bank = tf.variable(tf.tensor(flat, [L, 1, M, D]));
    const before = tf.memory().numTensors;
    const g = tf.tidy(() => {
      const { grads } = tf.variableGrads(() => tf.sum(promptsForLayer(bank, 1, 3)) as tf.Scalar, [bank]);
      const grad = grads[bank.name];
      if (!grad) throw new Error(`no gradient for the bank ${bank.name}`);
      return Array.from(grad.dataSync());
    });
    expect(tf.memory().numTensors).toBe(before);
    // d/dbank of the sum over a batch of 3 copies of layer 1: 3 on layer 1, 0 elsewhere.
    expect(g).toEqual([...new Array(M * D).fill(0), ...new Array(M * D).fill(3), ...new Array(M * D).fill(0)]);
    bank.dispose();
  });
});
