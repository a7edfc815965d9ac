import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { parameterReport } from '@fpt/core';
import { fuse, fusionConfig, FusionModule, type FusionVariant } from '../src/index';

describe('parameter counts (DESIGN.md §3)', () => {
  it('FPT+: 149,088 on ViT-B with side width 96 (prompts 73,728 + LayerNorm 1,536 + out 73,824)', () => {
    const f = new FusionModule(fusionConfig({ variant: 'fpt+', layers: 6, lpmDim: 768, lpmHeads: 12, sideDim: 96 }));
    expect(parameterReport(f).total).toBe(149_088);
    expect(f.namedParameters().map((p) => p.name)).toEqual(['prompts', 'layer_norm.weight', 'layer_norm.bias', 'out_proj.weight', 'out_proj.bias']);
    f.dispose();
  });

  it('FPT v1: 166,752 with 12 layers (prompts 18,432 + prompt_proj 74,496 + out 73,824)', () => {
    const f = new FusionModule(fusionConfig({ variant: 'fpt', layers: 12, lpmDim: 768, lpmHeads: 12, sideDim: 96 }));
    expect(parameterReport(f).total).toBe(166_752);
    expect(f.has('prompt_proj.weight')).toBe(true);
    expect(f.has('layer_norm.weight')).toBe(false);
    f.dispose();
  });

  it('config errors name the option', () => {
    expect(() => fusionConfig({ variant: 'fpt+', layers: 2, lpmDim: 30, lpmHeads: 4, sideDim: 8 })).toThrow('fusionConfig: "lpmDim" 30 is not divisible by "lpmHeads" 4');
    expect(() => fusionConfig({ variant: 'fpt+', layers: 2, lpmDim: 32, lpmHeads: 4, sideDim: 8, dropout: 1 })).toThrow(/"dropout" must be in \[0, 1\)/);
    expect(() => fusionConfig({ variant: 'x' as FusionVariant, layers: 2, lpmDim: 32, lpmHeads: 4, sideDim: 8 })).toThrow(/"variant"/);
  });
});

/** The fusion of DESIGN.md §2.5 written with plain loops, for one variant. */
function reference(variant: FusionVariant, f: FusionModule, K: number[][][][][], V: number[][][][][]): number[][][][] {
  const { layers: L, prompts: M, lpmDim: D, lpmHeads: H, sideDim: S } = f.config;
  const d = D / H;
  const arr = (name: string) => Array.from(f.get(name).dataSync());
  const P = arr('prompts');
  const Dp = variant === 'fpt+' ? D : S;
  const prompt = (l: number, m: number) => P.slice((l * M + m) * Dp, (l * M + m + 1) * Dp);
  const lin = (x: number[], w: number[], b: number[], out: number) => Array.from({ length: out }, (_, o) => b[o] + x.reduce((s, xi, i) => s + xi * w[o * x.length + i], 0));
  const B = K[0].length;
  return Array.from({ length: L }, (_, l) =>
    Array.from({ length: B }, (_, b) =>
      Array.from({ length: M }, (_, m) => {
        const p = prompt(l, m);
        let q: number[];
        if (variant === 'fpt+') {
          const mean = p.reduce((a, x) => a + x, 0) / D;
          const v = p.reduce((a, x) => a + (x - mean) ** 2, 0) / D;
          const w = arr('layer_norm.weight');
          const bb = arr('layer_norm.bias');
          q = p.map((x, i) => ((x - mean) / Math.sqrt(v + 1e-5)) * w[i] + bb[i]);
        } else {
          q = lin(p, arr('prompt_proj.weight'), arr('prompt_proj.bias'), D);
        }
        const ctx: number[] = [];
        for (let h = 0; h < H; h++) {
          const qh = q.slice(h * d, (h + 1) * d);
          const keys = K[l][b][h];
          const s = keys.map((k) => k.reduce((a, kv, i) => a + kv * qh[i], 0) / Math.sqrt(d));
          const mx = Math.max(...s);
          const e = s.map((x) => Math.exp(x - mx));
          const z = e.reduce((a, x) => a + x, 0);
          for (let i = 0; i < d; i++) ctx.push(V[l][b][h].reduce((a, v, t) => a + (e[t] / z) * v[i], 0));
        }
        const ow = arr('out_proj.weight');
        const ob = arr('out_proj.bias');
        if (variant === 'fpt+') return lin(ctx.map((c, i) => c + p[i]), ow, ob, S);
        return lin(ctx, ow, ob, S).map((y, i) => y + p[i]);
      }),
    ),
  );
}

describe('fuse', () => {
  for (const variant of ['fpt+', 'fpt'] as const) {
    it(`${variant}: matches a plain-loop reference and leaks nothing`, () => {
      const f = new FusionModule(fusionConfig({ variant, layers: 2, prompts: 3, lpmDim: 8, lpmHeads: 2, sideDim: 4, seed: 1, promptStd: 0.5 }));
      const keys = tf.randomNormal([2, 2, 2, 5, 4], 0, 1, 'float32', 1);
      const values = tf.randomNormal([2, 2, 2, 5, 4], 0, 1, 'float32', 2);
      const before = tf.memory().numTensors;
      const out = tf.tidy(() => fuse(f, keys, values));
      expect(out.shape).toEqual([2, 2, 3, 4]);
      const want = reference(variant, f, keys.arraySync() as number[][][][][], values.arraySync() as number[][][][][]).flat(3);
      Array.from(out.dataSync()).forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-5));
      out.dispose();
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([keys, values]);
      f.dispose();
    });
  }

  it('dropout acts only in training and keeps the mean', () => {
    const f = new FusionModule(fusionConfig({ variant: 'fpt+', layers: 1, prompts: 64, lpmDim: 8, lpmHeads: 2, sideDim: 64, promptStd: 1 }));
    tf.tidy(() => {
      const kv = tf.randomNormal([1, 4, 2, 5, 4], 0, 1, 'float32', 3);
      const a = fuse(f, kv, kv);
      expect(Array.from(fuse(f, kv, kv).dataSync())).toEqual(Array.from(a.dataSync()));
      const t = fuse(f, kv, kv, { training: true, seed: 9 });
      const zeros = Array.from(t.dataSync()).filter((x) => x === 0).length / t.size;
      expect(zeros).toBeGreaterThan(0.4);
      expect(zeros).toBeLessThan(0.6);
      const ratio = tf.sum(tf.abs(t)).dataSync()[0] / tf.sum(tf.abs(a)).dataSync()[0];
      expect(ratio).toBeGreaterThan(0.85);
      expect(ratio).toBeLessThan(1.15);
    });
    f.dispose();
  });

  it('refuses keys and values of the wrong shape, saying what it expects', () => {
    const f = new FusionModule(fusionConfig({ variant: 'fpt+', layers: 2, prompts: 3, lpmDim: 8, lpmHeads: 2, sideDim: 4 }));
    tf.tidy(() => {
      expect(() => fuse(f, tf.zeros([3, 1, 2, 5, 4]), tf.zeros([3, 1, 2, 5, 4]))).toThrow('fuse: keys must be [2, B, 2, n, 4] (layers, batch, heads, tokens, head dim), got [3,1,2,5,4]');
      expect(() => fuse(f, tf.zeros([2, 1, 2, 5, 4]), tf.zeros([2, 1, 2, 6, 4]))).toThrow('fuse: values [2,1,2,6,4] must have the shape of keys [2,1,2,5,4]');
    });
    f.dispose();
  });

  it('gives every parameter a gradient', () => {
    const f = new FusionModule(fusionConfig({ variant: 'fpt+', layers: 2, prompts: 3, lpmDim: 8, lpmHeads: 2, sideDim: 4, promptStd: 0.5 }));
    const kv = tf.randomNormal([2, 2, 2, 5, 4], 0, 1, 'float32', 4);
    const vars = f.trainableVariables();
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(fuse(f, kv, kv))) as tf.Scalar, vars);
    for (const v of vars) expect(tf.max(tf.abs(grads[v.name])).dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([value, kv, ...Object.values(grads)]);
    f.dispose();
  });
});
