import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy } from '@fpt/core';
import { adapt, createVit, EVAL, vitB16Hf384, vitConfig, type Method, type VitModel } from '@fpt/backbone-vit';
import {
  adapterHoulsby,
  adapterPfeiffer,
  bitfit,
  full,
  linearProbe,
  lora,
  loraMaskSeed,
  matchTargets,
  ssf,
  vptDeep,
  vptShallow,
} from '../src/index';
import { batch, expectNear, registry, tinyBackbone } from './helpers';

describe('parameter shares on ViT-B/16 (HF) with C = 5, docs/method.md (parameter counts)', () => {
  const vitB = createVit(vitB16Hf384(), { init: 'zeros' });
  afterAll(() => vitB.dispose());
  const share = (method: Method) => {
    const m = adapt(vitB, [method], { numClasses: 5 });
    const c = m.counts();
    m.dispose();
    return c;
  };

  it('LoRA rank 16 on query and value: 589,824 + head 3,845 -> 0.68 %', () => {
    const c = share(lora());
    expect(c.learnable).toBe(589_824 + 3_845);
    expect(c.total).toBe(86_859_496 + 589_824 + 3_845);
    expect(c.sharePercent.toFixed(2)).toBe('0.68');
    // The whole-projection variant has the same count for a different function.
    expect(share(lora({ qkvSlices: ['qkv'], rank: 8 })).learnable).toBe(12 * 8 * (768 + 3 * 768) + 3_845);
  });

  it('VPT-deep with 16 prompts: 147,456 + 3,845 -> 0.17 %', () => {
    const c = share(vptDeep());
    expect(c.learnable).toBe(147_456 + 3_845);
    expect(c.sharePercent.toFixed(2)).toBe('0.17');
  });

  it('Houlsby adapters, bottleneck 48: 1,789,056 + 3,845 -> 2.02 %; with trainLayerNorm the LayerNorms train too', () => {
    const c = share(adapterHoulsby());
    expect(c.learnable).toBe(1_789_056 + 3_845);
    expect(c.sharePercent.toFixed(2)).toBe('2.02');
    expect(share(adapterHoulsby({ trainLayerNorm: true })).learnable).toBe(1_789_056 + 3_845 + (12 * 2 + 1) * 2 * 768);
  });

  it("full fine-tuning drops the LPM's old head: learnable = total = 86,094,341", () => {
    const c = share(full());
    expect(c.learnable).toBe(86_094_341);
    expect(c.total).toBe(86_094_341);
    expect(c.sharePercent).toBe(100);
  });

  it('SSF scales and shifts after the patch embedding too: 209,669', () => {
    expect(share(ssf()).learnable).toBe(209_669);
  });

  it('the rest, from the built models', () => {
    expect(share(linearProbe()).learnable).toBe(3_845);
    // Biases of qkv, proj, fc1, fc2, norm1, norm2 per block, the patch embedding and the final norm
    // (not the backbone's own head, which the method replaces).
    expect(share(bitfit()).learnable).toBe(3_845 + 12 * (2304 + 768 + 3072 + 768 + 2 * 768) + 768 + 768);
    expect(share(vptShallow()).learnable).toBe(16 * 768 + 3_845);
    expect(share(adapterPfeiffer()).learnable).toBe(12 * 74_544 + 3_845);
  });
});

describe('LoRA', () => {
  it('merged and unmerged outputs agree, and unmerge restores the weights', () => {
    const backbone = tinyBackbone();
    const m = adapt(backbone, [lora({ rank: 4, alpha: 8 })], { numClasses: 3 });
    // Train the update away from zero first (B starts at zero).
    for (const p of m.module.namedParameters())
      if (p.name.endsWith('lora_B')) tf.tidy(() => p.variable.assign(tf.randomNormal(p.variable.shape, 0, 0.1, 'float32', 3)));
    const { pixels } = batch();
    const w0 = Array.from(backbone.get('blocks.0.attn.qkv.weight').dataSync());
    const plain = tf.tidy(() => m.forward({ pixels }).dataSync());
    m.merge();
    const merged = tf.tidy(() => m.forward({ pixels }).dataSync());
    expect(Array.from(backbone.get('blocks.0.attn.qkv.weight').dataSync())).not.toEqual(w0);
    expectNear(merged, plain, 1e-5);
    expect(() => m.merge()).toThrow('lora: already merged');
    m.unmerge();
    expectNear(backbone.get('blocks.0.attn.qkv.weight').dataSync(), w0, 1e-6);
    pixels.dispose();
    m.dispose();
    backbone.dispose();
  });

  it('dropout follows the call context: training draws a mask, evaluation does not', () => {
    const backbone = tinyBackbone();
    const m = adapt(backbone, [lora({ rank: 4, dropout: 0.5 })], { numClasses: 3 });
    for (const p of m.module.namedParameters()) if (p.name.endsWith('lora_B')) tf.tidy(() => p.variable.assign(tf.ones(p.variable.shape)));
    const { pixels } = batch();
    const run = (ctx?: { training: boolean; seed: number; step: number }) =>
      tf.tidy(() => Array.from(m.forward({ pixels }, ctx).dataSync()));
    expect(run()).toEqual(run());
    const t1 = run({ training: true, seed: 1, step: 0 });
    expect(t1).toEqual(run({ training: true, seed: 1, step: 0 }));
    expect(t1).not.toEqual(run({ training: true, seed: 2, step: 0 }));
    expect(t1).not.toEqual(run());
    pixels.dispose();
    m.dispose();
    backbone.dispose();
  });

  describe('dropout masks: one per site, call and step', () => {
    // A 12-block ViT (ViT-B's depth) with LoRA on qkv, attn.proj, fc1 and fc2: 48 layers, as in the issue.
    const deep = () =>
      createVit(vitConfig({ hiddenSize: 8, numLayers: 12, numHeads: 2, mlpDim: 8, patchSize: 8, imageSize: 16, numClasses: 0 }), {
        seed: 1,
      });
    /** The attached method with every lora_A equal and every lora_B ones: a site's update shows only its mask. */
    const attach = (backbone: VitModel) => {
      const a = lora({ rank: 2, dropout: 0.5, targets: ['qkv', 'attn.proj', 'fc1', 'fc2'] }).attach(backbone);
      for (const p of a.module.namedParameters())
        tf.tidy(() => p.variable.assign(p.name.endsWith('lora_A') ? tf.fill(p.variable.shape, 0.5) : tf.ones(p.variable.shape)));
      return a;
    };
    const x = () => tf.randomNormal([1, 5, 8], 0, 1, 'float32', 9);
    /** The update of a layer's first 8 output rows (its q slice for qkv) in a call. */
    const update = (
      a: ReturnType<typeof attach>,
      layer: string,
      outWidth: number,
      ctx: { training: boolean; seed: number; step: number },
    ) => tf.tidy(() => Array.from(tf.slice(a.hooks(ctx).linear!(layer, x(), tf.zeros([1, 5, outWidth])), [0, 0, 0], [1, 5, 8]).dataSync()));

    it("layer i at step t+1 no longer reuses layer i+31's mask at step t (the seed is hashed, not seed * 31 + layer)", () => {
      const backbone = deep();
      const a = attach(backbone);
      // With the step added to the call's seed, the old rule made these two masks one.
      const proj = update(a, 'blocks.0.attn.proj', 8, { training: true, seed: 8, step: 1 });
      const qkv = update(a, 'blocks.8.attn.qkv', 24, { training: true, seed: 7, step: 0 });
      expect(proj).not.toEqual(qkv);
      // The same site, call and step: the same mask; evaluation: none (equal updates everywhere).
      expect(update(a, 'blocks.0.attn.proj', 8, { training: true, seed: 8, step: 1 })).toEqual(proj);
      expect(update(a, 'blocks.0.attn.proj', 8, EVAL)).toEqual(update(a, 'blocks.8.attn.qkv', 24, EVAL));
      a.module.dispose();
      backbone.dispose();
    });

    it('no two (site, step) pairs of the 48 layers share a seed, whether the caller varies the seed with the step or not', () => {
      const sites = Array.from({ length: 12 }, (_, b) =>
        ['attn.qkv.q', 'attn.qkv.v', 'attn.proj', 'mlp.fc1', 'mlp.fc2'].map((s) => `blocks.${b}.${s}`),
      ).flat();
      for (const seedOf of [(step: number) => 7 + step, () => 7]) {
        const seeds = new Set(Array.from({ length: 20 }, (_, step) => sites.map((s) => loraMaskSeed(seedOf(step), step, s))).flat());
        expect(seeds.size).toBe(20 * sites.length);
      }
    });

    it('q and v draw separate masks (peft has separate query and value modules)', () => {
      const backbone = deep();
      const a = attach(backbone);
      const ctx = { training: true, seed: 3, step: 2 };
      const out = tf.tidy(() => a.hooks(ctx).linear!('blocks.4.attn.qkv', x(), tf.zeros([1, 5, 24])));
      const q = tf.tidy(() => Array.from(tf.slice(out, [0, 0, 0], [1, 5, 8]).dataSync()));
      const v = tf.tidy(() => Array.from(tf.slice(out, [0, 0, 16], [1, 5, 8]).dataSync()));
      expect(q).not.toEqual(v);
      const evalOut = tf.tidy(() => a.hooks(EVAL).linear!('blocks.4.attn.qkv', x(), tf.zeros([1, 5, 24])));
      const evalQ = tf.tidy(() => Array.from(tf.slice(evalOut, [0, 0, 0], [1, 5, 8]).dataSync()));
      const evalV = tf.tidy(() => Array.from(tf.slice(evalOut, [0, 0, 16], [1, 5, 8]).dataSync()));
      expect(evalQ).toEqual(evalV); // equal weights: only the masks told them apart
      tf.dispose([out, evalOut]);
      a.module.dispose();
      backbone.dispose();
    });
  });

  it('adapts the patch embedding as peft adapts its convolution: a p x p convolution to r channels, then a 1 x 1 one', () => {
    const backbone = tinyBackbone(); // width 32, patch 8, 3 channels
    const m = adapt(backbone, [lora({ rank: 4, alpha: 8, targets: ['patch_embed.proj'] })], { numClasses: 3 });
    expect(m.module.get('lora.patch_embed.proj.lora_A').shape).toEqual([4, 3 * 8 * 8]);
    expect(m.module.get('lora.patch_embed.proj.lora_B').shape).toEqual([32, 4]);
    const A = m.module.get('lora.patch_embed.proj.lora_A');
    const B = m.module.get('lora.patch_embed.proj.lora_B');
    tf.tidy(() => B.assign(tf.randomNormal(B.shape, 0, 0.1, 'float32', 3)));
    const { pixels } = batch();
    const plain = tf.tidy(() => m.forward({ pixels }, EVAL).dataSync());
    // A's rows as peft's convolution kernels [r, C, p, p], B as its 1 x 1 convolution [out, r].
    const nhwc = tf.transpose(pixels, [0, 2, 3, 1]);
    const conv = (w: tf.Tensor) => tf.conv2d(nhwc as tf.Tensor4D, tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D, 8, 'valid');
    const W0 = backbone.get('patch_embed.proj.weight');
    const peft = tf.tidy(() => {
      const low = conv(tf.reshape(A, [4, 3, 8, 8])); // [B, 2, 2, r]
      const update = tf.matMul(tf.reshape(low, [-1, 4]), B, false, true); // 1 x 1 convolution
      return tf.add(tf.reshape(conv(W0), [-1, 32]), tf.mul(update, 8 / 4)).dataSync();
    });
    m.merge();
    const merged = tf.tidy(() => m.forward({ pixels }, EVAL).dataSync());
    const embedded = tf.tidy(() => tf.reshape(conv(backbone.get('patch_embed.proj.weight')), [-1, 32]).dataSync());
    // The merged kernel embeds as peft's base convolution plus its LoRA branch...
    expectNear(embedded, peft, 1e-4);
    // ...and the unmerged hook computes what the merged kernel does.
    expectNear(merged, plain, 1e-4);
    m.unmerge();
    // It trains: the loss has a gradient for A (B is non-zero).
    const { labels } = batch();
    const g = tf.tidy(() => {
      const { grads } = tf.variableGrads(() => crossEntropy(m.forward({ pixels }, EVAL), labels) as tf.Scalar, [A as tf.Variable]);
      const grad = grads[A.name];
      if (!grad) throw new Error('no gradient for lora_A');
      return (tf.abs(tf.sum(grad)) as tf.Scalar).arraySync();
    });
    expect(g).toBeGreaterThan(0);
    tf.dispose([pixels, nhwc, labels]);
    m.dispose();
    backbone.dispose();
  });

  it('q,v slices leave the key projection untouched; the whole-projection variant does not', () => {
    const backbone = tinyBackbone();
    for (const [slices, keyChanged] of [
      [['q', 'v'], false],
      [['qkv'], true],
    ] as const) {
      const m = adapt(backbone, [lora({ rank: 2, qkvSlices: [...slices] })], { numClasses: 3 });
      for (const p of m.module.namedParameters())
        if (p.name.endsWith('lora_B')) tf.tidy(() => p.variable.assign(tf.ones(p.variable.shape)));
      const k0 = Array.from(
        backbone
          .get('blocks.1.attn.qkv.weight')
          .dataSync()
          .slice(32 * 32, 64 * 32),
      );
      m.merge();
      const k1 = Array.from(
        backbone
          .get('blocks.1.attn.qkv.weight')
          .dataSync()
          .slice(32 * 32, 64 * 32),
      );
      expect(k1.some((v, i) => v !== k0[i])).toBe(keyChanged);
      m.unmerge();
      m.dispose();
    }
    backbone.dispose();
  });

  it("targets follow peft's rules and never silently match nothing", () => {
    const names = ['blocks.0.attn.qkv', 'blocks.0.mlp.fc1', 'blocks.1.attn.qkv', 'blocks.1.mlp.fc1'];
    expect(matchTargets(names, ['attn.qkv'], 'lora')).toEqual(['blocks.0.attn.qkv', 'blocks.1.attn.qkv']);
    expect(matchTargets(names, ['qkv'], 'lora')).toEqual(['blocks.0.attn.qkv', 'blocks.1.attn.qkv']);
    expect(matchTargets(names, ['blocks.1.mlp.fc1'], 'lora')).toEqual(['blocks.1.mlp.fc1']);
    expect(matchTargets(names, ['re:blocks\\.0\\..*'], 'lora')).toEqual(['blocks.0.attn.qkv', 'blocks.0.mlp.fc1']);
    expect(() => matchTargets(names, ['qkv2'], 'lora')).toThrow('lora: target "qkv2" matches no layer');
    expect(() => matchTargets(names, ['fc'], 'lora')).toThrow(/target "fc" matches no layer/); // suffixes match whole segments
    expect(() => matchTargets(names, ['re:('], 'lora')).toThrow(
      'lora: option "targets" value "re:(" is not a valid regular expression (Unterminated group)',
    );
    const backbone = tinyBackbone();
    expect(() => adapt(backbone, [lora({ targets: ['attn.nope'] })])).toThrow('lora: target "attn.nope" matches no layer');
    expect(() => lora({ rank: 0 })).toThrow('lora: option "rank" must be a positive integer, got 0');
    expect(() => registry.fromStrings('lora', { qkvSlices: 'q,x' })).toThrow(/"qkvSlices" must be "qkv" or distinct slices among q, k, v/);
    expect(() => registry.fromStrings('lora', { rnak: '4' })).toThrow(
      'lora: unknown option "rnak"; known options: rank, alpha, dropout, targets, qkvSlices, seed',
    );
    const mlp = adapt(backbone, [registry.fromStrings('lora', { targets: 'mlp.fc1,mlp.fc2', rank: '2' })]);
    expect(
      mlp.module
        .namedParameters()
        .map((p) => p.name)
        .filter((n) => n.endsWith('lora_A')),
    ).toEqual([
      'lora.blocks.0.mlp.fc1.lora_A',
      'lora.blocks.0.mlp.fc2.lora_A',
      'lora.blocks.1.mlp.fc1.lora_A',
      'lora.blocks.1.mlp.fc2.lora_A',
    ]);
    mlp.dispose();
    backbone.dispose();
  });
});

describe('SSF', () => {
  it('merges into the preceding weights (patch embedding included) with the same outputs, and unmerges', () => {
    const backbone = tinyBackbone();
    const m = adapt(backbone, [ssf({ initStd: 0.3 })], { numClasses: 3 });
    expect(m.module.has('ssf.patch_embed.proj.ssf_scale')).toBe(true);
    const { pixels } = batch();
    const before = new Map(backbone.namedParameters().map((p) => [p.name, Array.from(p.variable.dataSync())]));
    const plain = tf.tidy(() => m.forward({ pixels }).dataSync());
    m.merge();
    const merged = tf.tidy(() => m.forward({ pixels }).dataSync());
    expectNear(merged, plain, 1e-4);
    m.unmerge();
    for (const p of backbone.namedParameters()) expectNear(p.variable.dataSync(), before.get(p.name) ?? [], 1e-5, p.name);
    pixels.dispose();
    m.dispose();
    backbone.dispose();
  });
});

describe('adapters', () => {
  it('Pfeiffer takes an activation (ReLU by default); the two differ', () => {
    expect(adapterPfeiffer().config.activation).toBe('relu');
    expect(() => registry.fromStrings('adapter-pfeiffer', { activation: 'tanh' })).toThrow(
      'adapter-pfeiffer: option "activation" must be one of relu, gelu, got "tanh"',
    );
    const backbone = tinyBackbone();
    const { pixels } = batch();
    const out = (act: 'relu' | 'gelu') => {
      const m = adapt(backbone, [adapterPfeiffer({ activation: act, seed: 3 })], { numClasses: 3 });
      for (const p of m.module.namedParameters())
        if (p.name.includes('.up.')) tf.tidy(() => p.variable.assign(tf.randomNormal(p.variable.shape, 0, 0.5, 'float32', 4)));
      const y = tf.tidy(() => Array.from(m.forward({ pixels }).dataSync()));
      m.dispose();
      return y;
    };
    expect(out('relu')).not.toEqual(out('gelu'));
    pixels.dispose();
    backbone.dispose();
  });
});
