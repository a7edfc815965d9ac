import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { parameterReport } from '@fpt/core';
import { fptPlusFusion, fptV1Fusion, fuse, fusionConfig, FusionModule, type FusionVariant } from '../src/index';

/** Deterministic pseudo-random numbers for test data. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Overwrites every parameter with values in [-scale, scale), so LayerNorm affine and biases matter. */
function randomise(f: FusionModule, seed: number, scale = 0.5): void {
  const r = seeded(seed);
  for (const { variable } of f.namedParameters()) {
    const data = Float32Array.from({ length: variable.size }, () => (r() * 2 - 1) * scale);
    tf.tidy(() => variable.assign(tf.tensor(data, variable.shape)));
  }
}

const VIT_B = { lpmDim: 768, lpmHeads: 12, sideDim: 96 } as const;

describe('parameters (docs/method.md, parameter counts)', () => {
  it('FPT+ on ViT-B, 6 layers, side width 96: exactly 149,088', () => {
    const f = new FusionModule(fusionConfig({ variant: fptPlusFusion, layers: 6, ...VIT_B }));
    const report = parameterReport(f, { depth: 1 });
    expect(report.total).toBe(149_088);
    expect(report.trainable).toBe(149_088);
    const byGroup = Object.fromEntries(report.groups.map((g) => [g.name, g.total]));
    expect(byGroup).toEqual({ prompts: 73_728, layer_norm: 1_536, out_proj: 73_824 });
    expect(f.namedParameters().map((p) => [p.name, p.variable.shape])).toEqual([
      ['prompts', [6, 1, 16, 768]],
      ['layer_norm.weight', [768]],
      ['layer_norm.bias', [768]],
      ['out_proj.weight', [96, 768]],
      ['out_proj.bias', [96]],
    ]);
    f.dispose();
  });

  it('FPT v1 on ViT-B, 12 layers, side width 96: exactly 166,752', () => {
    const f = new FusionModule(fusionConfig({ variant: fptV1Fusion, layers: 12, ...VIT_B }));
    const report = parameterReport(f, { depth: 1 });
    expect(report.total).toBe(166_752);
    const byGroup = Object.fromEntries(report.groups.map((g) => [g.name, g.total]));
    expect(byGroup).toEqual({ prompts: 18_432, prompt_proj: 74_496, out_proj: 73_824 });
    expect(f.namedParameters().map((p) => [p.name, p.variable.shape])).toEqual([
      ['prompts', [12, 1, 16, 96]],
      ['prompt_proj.weight', [768, 96]],
      ['prompt_proj.bias', [768]],
      ['out_proj.weight', [96, 768]],
      ['out_proj.bias', [96]],
    ]);
    expect(f.has('layer_norm.weight')).toBe(false);
    f.dispose();
  });

  it('initialises prompts N(0, 1e-6^2), LayerNorm 1/0, zero biases, small projections; seeded', () => {
    const f = new FusionModule(fusionConfig({ variant: fptPlusFusion, layers: 6, ...VIT_B, seed: 4 }));
    const p = f.get('prompts').dataSync<'float32'>();
    const sd = Math.sqrt(p.reduce((a, x) => a + x * x, 0) / p.length);
    expect(sd / 1e-6).toBeGreaterThan(0.9);
    expect(sd / 1e-6).toBeLessThan(1.1);
    expect(
      f
        .get('layer_norm.weight')
        .dataSync()
        .every((x) => x === 1),
    ).toBe(true);
    expect(
      f
        .get('layer_norm.bias')
        .dataSync()
        .every((x) => x === 0),
    ).toBe(true);
    expect(
      f
        .get('out_proj.bias')
        .dataSync()
        .every((x) => x === 0),
    ).toBe(true);
    const w = f.get('out_proj.weight').dataSync();
    // trunc_normal_(std=0.02) as timm: std 0.02, bounds +-2 that never bind in practice.
    const wsd = Math.sqrt(Array.from(w).reduce((a, x) => a + x * x, 0) / w.length);
    expect(wsd).toBeGreaterThan(0.018);
    expect(wsd).toBeLessThan(0.022);
    expect(w.some((x) => x !== 0)).toBe(true);
    const g = new FusionModule(fusionConfig({ variant: fptPlusFusion, layers: 6, ...VIT_B, seed: 4 }));
    const h = new FusionModule(fusionConfig({ variant: fptPlusFusion, layers: 6, ...VIT_B, seed: 5 }));
    expect(Array.from(g.get('prompts').dataSync())).toEqual(Array.from(p));
    expect(Array.from(h.get('prompts').dataSync())).not.toEqual(Array.from(p));
    [f, g, h].forEach((m) => m.dispose());
  });
});

describe('fusionConfig', () => {
  const base = { variant: fptPlusFusion as FusionVariant, layers: 2, lpmDim: 32, lpmHeads: 4, sideDim: 8 };

  it('fills the paper defaults', () => {
    expect(fusionConfig(base)).toEqual({ ...base, prompts: 16, dropout: 0.5, layerNormEps: 1e-5, promptStd: 1e-6, seed: 0 });
    expect(fusionConfig({ ...base, variant: fptV1Fusion }).dropout).toBe(0.5); // the official code's default, not overridden for FPT v1
    expect(fusionConfig({ ...base, prompts: 4, dropout: 0.1 })).toMatchObject({ prompts: 4, dropout: 0.1 });
  });

  it('errors name the option at fault', () => {
    expect(() => fusionConfig({ ...base, variant: 'x' as unknown as FusionVariant })).toThrow(/"variant"/);
    for (const key of ['layers', 'prompts', 'lpmDim', 'lpmHeads', 'sideDim'] as const) {
      expect(() => fusionConfig({ ...base, [key]: 0 })).toThrow(new RegExp(`fusionConfig: "${key}" must be a positive integer, got 0`));
      expect(() => fusionConfig({ ...base, [key]: 2.5 })).toThrow(new RegExp(`"${key}"`));
    }
    expect(() => fusionConfig({ ...base, lpmDim: 30 })).toThrow('fusionConfig: "lpmDim" 30 is not divisible by "lpmHeads" 4');
    expect(() => fusionConfig({ ...base, dropout: 1 })).toThrow(/"dropout" must be in \[0, 1\)/);
    expect(() => fusionConfig({ ...base, dropout: -0.1 })).toThrow(/"dropout"/);
  });

  // Fails on the current src (reported): `{ ...defaults, ...input }` lets an explicit `undefined`
  // replace a default, so `layerNormEps: undefined` only fails later, inside `fuse`, with a tfjs
  // "got 'null'" error, and `dropout: undefined` is refused although a default exists.
  it('keeps the defaults for options passed as undefined', () => {
    const c = fusionConfig({
      ...base,
      prompts: undefined,
      dropout: undefined,
      layerNormEps: undefined,
      promptStd: undefined,
      seed: undefined,
    });
    expect(c).toEqual(fusionConfig(base));
  });
});

/**
 * The fusion module of docs/method.md written with plain loops and JS math: per layer, per batch item, per prompt, per
 * head. FPT+: LN(P) as queries, softmax(q k / sqrt d), weighted sum of values, + P, out_proj.
 * FPT v1: prompt_proj(P) as queries, out_proj(context) + P.
 */
// Sizes follow from the config, so indexing below stays in range by construction.
function reference(f: FusionModule, K: number[][][][][], V: number[][][][][]): number[][][][] {
  const { variant, layers: L, prompts: M, lpmDim: D, lpmHeads: H, sideDim: S, layerNormEps } = f.config;
  const d = D / H;
  const arr = (name: string) => Array.from(f.get(name).dataSync());
  const P = arr('prompts');
  const Dp = variant === fptPlusFusion ? D : S;
  const lin = (x: number[], w: number[], b: number[], out: number) => {
    const y: number[] = [];
    for (let o = 0; o < out; o++) {
      let s = b[o]!;
      for (let i = 0; i < x.length; i++) s += x[i]! * w[o * x.length + i]!;
      y.push(s);
    }
    return y;
  };
  const B = K[0]?.length ?? 0;
  const out: number[][][][] = [];
  for (let l = 0; l < L; l++) {
    const perBatch: number[][][] = [];
    for (let b = 0; b < B; b++) {
      const perPrompt: number[][] = [];
      for (let m = 0; m < M; m++) {
        const p = P.slice((l * M + m) * Dp, (l * M + m + 1) * Dp);
        let q: number[];
        if (variant === fptPlusFusion) {
          const mu = p.reduce((a, x) => a + x, 0) / D;
          const v = p.reduce((a, x) => a + (x - mu) ** 2, 0) / D;
          const w = arr('layer_norm.weight');
          const bb = arr('layer_norm.bias');
          q = p.map((x, i) => ((x - mu) / Math.sqrt(v + layerNormEps)) * w[i]! + bb[i]!);
        } else {
          q = lin(p, arr('prompt_proj.weight'), arr('prompt_proj.bias'), D);
        }
        const ctx: number[] = [];
        for (let h = 0; h < H; h++) {
          const qh = q.slice(h * d, (h + 1) * d);
          const keys = K[l]![b]![h]!;
          const scores = keys.map((k) => k.reduce((a, kv, i) => a + kv * qh[i]!, 0) / Math.sqrt(d));
          const mx = Math.max(...scores);
          const e = scores.map((x) => Math.exp(x - mx));
          const z = e.reduce((a, x) => a + x, 0);
          for (let i = 0; i < d; i++) ctx.push(V[l]![b]![h]!.reduce((a, v, t) => a + (e[t]! / z) * v[i]!, 0));
        }
        const ow = arr('out_proj.weight');
        const ob = arr('out_proj.bias');
        perPrompt.push(
          variant === fptPlusFusion
            ? lin(
                ctx.map((c, i) => c + p[i]!),
                ow,
                ob,
                S,
              )
            : lin(ctx, ow, ob, S).map((y, i) => y + p[i]!),
        );
      }
      perBatch.push(perPrompt);
    }
    out.push(perBatch);
  }
  return out;
}

// Every size distinct, so a mixed-up axis cannot go unnoticed: L 2, B 3, H 4, d 5 (D 20), n 7, M 6, S 9.
const TINY = { layers: 2, prompts: 6, lpmDim: 20, lpmHeads: 4, sideDim: 9 } as const;
const KV_SHAPE = [2, 3, 4, 7, 5];

describe('fuse', () => {
  for (const variant of [fptPlusFusion, fptV1Fusion]) {
    it(`${variant.name}: output [L, B, M, sideDim] matches a plain-loop reference within 1e-5, leaking nothing`, () => {
      const f = new FusionModule(fusionConfig({ variant, ...TINY, seed: 1 }));
      randomise(f, variant === fptPlusFusion ? 11 : 12);
      const keys = tf.randomNormal(KV_SHAPE, 0, 1, 'float32', 1);
      const values = tf.randomNormal(KV_SHAPE, 0, 1, 'float32', 2);
      const before = tf.memory().numTensors;
      const out = tf.tidy(() => fuse(f, keys, values));
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(out.shape).toEqual([2, 3, 6, 9]);
      const want = reference(f, keys.arraySync() as number[][][][][], values.arraySync() as number[][][][][]).flat(3);
      const got = out.dataSync();
      expect(got.length).toBe(want.length);
      let worst = 0;
      want.forEach((w, i) => (worst = Math.max(worst, Math.abs(got[i]! - w)))); // same length, checked above
      expect(worst).toBeLessThan(1e-5);
      tf.dispose([out, keys, values]);
      f.dispose();
    });
  }

  it('each batch item attends only to its own keys and values', () => {
    const f = new FusionModule(fusionConfig({ variant: fptPlusFusion, ...TINY }));
    randomise(f, 3);
    tf.tidy(() => {
      const keys = tf.randomNormal(KV_SHAPE, 0, 1, 'float32', 5);
      const values = tf.randomNormal(KV_SHAPE, 0, 1, 'float32', 6);
      const both = fuse(f, keys, values);
      // Change batch item 2 only: items 0 and 1 of the output stay, item 2 changes.
      const mask = tf.reshape(tf.tensor1d([0, 0, 1]), [1, 3, 1, 1, 1]);
      const changed = fuse(f, keys, tf.add(values, mask));
      const diff = tf.max(tf.abs(tf.sub(both, changed)), [0, 2, 3]).arraySync() as number[];
      expect(diff[0]).toBe(0);
      expect(diff[1]).toBe(0);
      expect(diff[2]).toBeGreaterThan(1e-3);
    });
    f.dispose();
  });

  describe('dropout', () => {
    // Outputs near a positive constant (out_proj.bias 5), so the mean is well defined.
    const make = (variant: FusionVariant, dropout?: number) => {
      const f = new FusionModule(
        fusionConfig({
          variant,
          layers: 1,
          prompts: 64,
          lpmDim: 8,
          lpmHeads: 2,
          sideDim: 64,
          promptStd: 1,
          ...(dropout === undefined ? {} : { dropout }),
        }),
      );
      tf.tidy(() => f.get('out_proj.bias').assign(tf.fill([64], 5)));
      return f;
    };
    const kv = () => tf.randomNormal([1, 4, 2, 5, 4], 0, 1, 'float32', 3);

    it('is the identity when not training, and inverted dropout (rate 0.5) when training', () => {
      const f = make(fptPlusFusion);
      tf.tidy(() => {
        const k = kv();
        const a = fuse(f, k, k).dataSync<'float32'>();
        expect(Array.from(fuse(f, k, k, { training: false, seed: 1 }).dataSync())).toEqual(Array.from(a));
        const t = fuse(f, k, k, { training: true, seed: 9 }).dataSync<'float32'>();
        expect(Array.from(t)).not.toEqual(Array.from(a));
        let zeros = 0;
        let worst = 0; // kept elements are scaled by 1 / (1 - 0.5)
        t.forEach((x, i) => {
          const ref = a[i]!; // same fusion, same shape
          if (x === 0) zeros++;
          else worst = Math.max(worst, Math.abs(x - 2 * ref) / Math.abs(ref));
        });
        expect(worst).toBeLessThan(1e-5);
        expect(zeros / t.length).toBeGreaterThan(0.45);
        expect(zeros / t.length).toBeLessThan(0.55);
        const ratio = t.reduce((s, x) => s + x, 0) / a.reduce((s, x) => s + x, 0);
        expect(ratio).toBeGreaterThan(0.95); // mean preserved
        expect(ratio).toBeLessThan(1.05);
        // A seed makes the mask reproducible; another seed gives another mask.
        expect(Array.from(fuse(f, k, k, { training: true, seed: 9 }).dataSync())).toEqual(Array.from(t));
        expect(Array.from(fuse(f, k, k, { training: true, seed: 10 }).dataSync())).not.toEqual(Array.from(t));
      });
      f.dispose();
    });

    it('uses the configured rate', () => {
      const f = make(fptPlusFusion, 0.25);
      tf.tidy(() => {
        const k = kv();
        const t = fuse(f, k, k, { training: true, seed: 2 }).dataSync();
        const zeros = t.filter((x) => x === 0).length / t.length;
        expect(zeros).toBeGreaterThan(0.2);
        expect(zeros).toBeLessThan(0.3);
      });
      f.dispose();
    });

    it('FPT v1 defaults to dropout 0.5 on the projected context, as the official code', () => {
      const f = new FusionModule(fusionConfig({ variant: fptV1Fusion, ...TINY }));
      randomise(f, 8);
      tf.tidy(() => {
        const k = tf.randomNormal(KV_SHAPE, 0, 1, 'float32', 4);
        // F = Dropout(out_proj(C)) + P: subtracting the prompts leaves the dropped projection.
        const P = tf.reshape(f.get('prompts'), [TINY.layers, 1, TINY.prompts, TINY.sideDim]);
        const train = tf.sub(fuse(f, k, k, { training: true, seed: 1 }), P).dataSync();
        const evalOut = tf.sub(fuse(f, k, k), P).dataSync();
        const zeros = Array.from(train).filter((x, i) => Math.abs(x) < 1e-7 && Math.abs(evalOut[i]!) > 1e-6).length / train.length;
        expect(zeros).toBeGreaterThan(0.4);
        expect(zeros).toBeLessThan(0.6);
        // The kept half is scaled by 1 / (1 - 0.5).
        const kept = Array.from(train).findIndex((x, i) => Math.abs(x) > 1e-6 && Math.abs(evalOut[i]!) > 1e-6);
        expect(kept).toBeGreaterThanOrEqual(0);
        expect(train[kept]).toBeCloseTo(2 * evalOut[kept]!, 4);
      });
      f.dispose();
    });
  });

  it('refuses keys and values of the wrong shape, naming the expected shape', () => {
    const f = new FusionModule(fusionConfig({ variant: fptPlusFusion, layers: 2, prompts: 3, lpmDim: 8, lpmHeads: 2, sideDim: 4 }));
    const expected = 'fuse: keys must be [2, B, 2, n, 4] (layers, batch, heads, tokens, head dim)';
    tf.tidy(() => {
      const ok = tf.zeros([2, 1, 2, 5, 4]);
      expect(() => fuse(f, tf.zeros([3, 1, 2, 5, 4]), ok)).toThrow(`${expected}, got [3,1,2,5,4]`); // layers
      expect(() => fuse(f, tf.zeros([2, 1, 3, 5, 4]), ok)).toThrow(`${expected}, got [2,1,3,5,4]`); // heads
      expect(() => fuse(f, tf.zeros([2, 1, 2, 5, 8]), ok)).toThrow(`${expected}, got [2,1,2,5,8]`); // head dim
      expect(() => fuse(f, tf.zeros([2, 2, 5, 4]), ok)).toThrow(`${expected}, got [2,2,5,4]`); // rank
      expect(() => fuse(f, ok, tf.zeros([2, 1, 2, 6, 4]))).toThrow('fuse: values [2,1,2,6,4] must have the shape of keys [2,1,2,5,4]');
      expect(() => fuse(f, ok, tf.zeros([2, 2, 2, 5, 4]))).toThrow(/values \[2,2,2,5,4\] must have the shape of keys/);
      expect(() => fuse(f, ok, tf.zeros([2, 1, 2, 5]))).toThrow('fuse: values [2,1,2,5] must have the shape of keys [2,1,2,5,4]'); // a prefix of keys' shape
    });
    f.dispose();
  });

  for (const variant of [fptPlusFusion, fptV1Fusion]) {
    it(`${variant.name}: gradients reach every parameter, and nothing leaks`, () => {
      const f = new FusionModule(fusionConfig({ variant, ...TINY, promptStd: 0.5 }));
      const keys = tf.randomNormal(KV_SHAPE, 0, 1, 'float32', 7);
      const values = tf.randomNormal(KV_SHAPE, 0, 1, 'float32', 8);
      const target = tf.randomNormal([2, 3, 6, 9], 0, 1, 'float32', 9);
      const vars = f.trainableVariables();
      expect(vars.length).toBe(5);
      const before = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.square(tf.sub(fuse(f, keys, values, { training: true, seed: 3 }), target))) as tf.Scalar,
        vars,
      );
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      for (const { name, variable } of f.namedParameters()) {
        const g = grads[variable.name];
        if (!g) throw new Error(`no gradient for ${name}`);
        expect(g.shape, name).toEqual(variable.shape);
        const norm = tf.tidy(() => (tf.max(tf.abs(g)) as tf.Scalar).arraySync());
        expect(norm, `gradient of ${name}`).toBeGreaterThan(0);
        expect(Number.isFinite(norm), name).toBe(true);
      }
      tf.dispose([value, ...Object.values(grads)]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([keys, values, target]);
      f.dispose();
    });
  }
});
