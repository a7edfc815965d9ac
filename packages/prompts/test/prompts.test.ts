import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { fineGrainedPrompts, promptsForLayer, vptPrompts } from '../src/index';

function std(data: ArrayLike<number>): number {
  const x = Array.from(data);
  const m = x.reduce((a, b) => a + b, 0) / x.length;
  return Math.sqrt(x.reduce((a, b) => a + (b - m) ** 2, 0) / x.length);
}

describe('fine-grained prompts', () => {
  it('are [L, 1, M, D] from N(0, 1e-6^2), reproducible by seed', () => {
    const p = fineGrainedPrompts({ layers: 6, prompts: 16, dim: 768, seed: 3 });
    expect(p.shape).toEqual([6, 1, 16, 768]);
    expect(std(p.dataSync()) / 1e-6).toBeGreaterThan(0.95);
    expect(std(p.dataSync()) / 1e-6).toBeLessThan(1.05);
    const q = fineGrainedPrompts({ layers: 6, prompts: 16, dim: 768, seed: 3 });
    const r = fineGrainedPrompts({ layers: 6, prompts: 16, dim: 768, seed: 4, std: 0.5 });
    expect(Array.from(q.dataSync())).toEqual(Array.from(p.dataSync()));
    expect(std(r.dataSync())).toBeCloseTo(0.5, 1);
    tf.dispose([p, q, r]);
  });

  it('reject non-positive sizes, naming the field', () => {
    expect(() => fineGrainedPrompts({ layers: 0, prompts: 16, dim: 8 })).toThrow('fineGrainedPrompts: "layers" must be a positive integer, got 0');
    expect(() => vptPrompts({ layers: 1, prompts: 2.5, dim: 8, patchSize: 16 })).toThrow('vptPrompts: "prompts" must be a positive integer, got 2.5');
  });
});

describe('VPT prompts', () => {
  it('are uniform within VPT\'s Xavier bound', () => {
    const p = vptPrompts({ layers: 12, prompts: 16, dim: 768, patchSize: 16 });
    const bound = Math.sqrt(6 / (3 * 16 * 16 + 768));
    const d = Array.from(p.dataSync());
    expect(p.shape).toEqual([12, 16, 768]);
    expect(d.reduce((a, x) => Math.max(a, x), -Infinity)).toBeLessThanOrEqual(bound);
    expect(d.reduce((a, x) => Math.min(a, x), Infinity)).toBeGreaterThanOrEqual(-bound);
    expect(std(d)).toBeCloseTo(bound / Math.sqrt(3), 3); // uniform(-b, b) has std b / sqrt 3
    p.dispose();
  });
});

describe('promptsForLayer', () => {
  it('takes one layer of either layout and broadcasts it over the batch', () => {
    tf.tidy(() => {
      const fg = tf.reshape(tf.range(0, 2 * 3 * 4), [2, 1, 3, 4]);
      const vpt = tf.reshape(tf.range(0, 2 * 3 * 4), [2, 3, 4]);
      for (const bank of [fg, vpt]) {
        const out = promptsForLayer(bank, 1, 2);
        expect(out.shape).toEqual([2, 3, 4]);
        const row = Array.from({ length: 12 }, (_, i) => 12 + i);
        expect(Array.from(out.dataSync())).toEqual([...row, ...row]);
      }
    });
  });
});
