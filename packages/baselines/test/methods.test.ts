import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { createVit, vitB16Hf384 } from '@fpt/backbone-vit';
import { applyMethod, applyMethods, baselineMethods, loadMethod, matchTargets } from '../src/index';
import { batch, tinyBackbone } from './helpers';

describe('parameter shares on ViT-B/16 (HF) with C = 5, DESIGN.md §3', () => {
  const vitB = createVit(vitB16Hf384(), { init: 'zeros' });
  afterAll(() => vitB.dispose());
  const share = (name: string, config: Record<string, unknown> = {}) => {
    const m = applyMethod(vitB, name, config, { numClasses: 5 });
    const c = m.parameterCounts();
    m.dispose();
    return c;
  };

  it('LoRA rank 16 on query and value: 589,824 + head 3,845 -> 0.68 %', () => {
    const c = share('lora');
    expect(c.learnable).toBe(589_824 + 3_845);
    expect(c.total).toBe(86_859_496 + 589_824 + 3_845);
    expect(c.sharePercent.toFixed(2)).toBe('0.68');
    // The whole-projection variant has the same count for a different function.
    expect(share('lora', { qkvSlices: ['qkv'], rank: 8 }).learnable).toBe(12 * 8 * (768 + 3 * 768) + 3_845);
  });

  it('VPT-deep with 16 prompts: 147,456 + 3,845 -> 0.17 %', () => {
    const c = share('vpt-deep');
    expect(c.learnable).toBe(147_456 + 3_845);
    expect(c.sharePercent.toFixed(2)).toBe('0.17');
  });

  it('Houlsby adapters, bottleneck 48: 1,789,056 + 3,845 -> 2.02 %', () => {
    const c = share('adapter-houlsby');
    expect(c.learnable).toBe(1_789_056 + 3_845);
    expect(c.sharePercent.toFixed(2)).toBe('2.02');
  });

  it('full fine-tuning: 100 %', () => {
    const c = share('full');
    expect(c.learnable).toBe(c.total);
    expect(c.sharePercent).toBe(100);
  });

  it('the rest, from the built models', () => {
    expect(share('linear').learnable).toBe(3_845);
    // Biases of qkv, proj, fc1, fc2, norm1, norm2 per block, the patch embedding and the final norm
    // (not the backbone's own head, which the method replaces).
    expect(share('bitfit').learnable).toBe(3_845 + 12 * (2304 + 768 + 3072 + 768 + 2 * 768) + 768 + 768);
    expect(share('vpt-shallow').learnable).toBe(16 * 768 + 3_845);
    expect(share('adapter-pfeiffer').learnable).toBe(12 * 74_544 + 3_845);
  });
});

describe('LoRA', () => {
  it('merged and unmerged outputs agree, and unmerge restores the weights', () => {
    const backbone = tinyBackbone();
    const m = applyMethod(backbone, 'lora', { rank: 4, alpha: 8 }, { numClasses: 3 });
    // Train the update away from zero first (B starts at zero).
    for (const p of m.module.namedParameters()) if (p.name.endsWith('lora_B')) tf.tidy(() => p.variable.assign(tf.randomNormal(p.variable.shape, 0, 0.1, 'float32', 3)));
    const { pixels } = batch();
    const w0 = Array.from(backbone.get('blocks.0.attn.qkv.weight').dataSync());
    const plain = tf.tidy(() => m.forward(pixels).dataSync());
    m.merge();
    const merged = tf.tidy(() => m.forward(pixels).dataSync());
    expect(Array.from(backbone.get('blocks.0.attn.qkv.weight').dataSync())).not.toEqual(w0);
    merged.forEach((v, i) => expect(Math.abs(v - plain[i])).toBeLessThan(1e-5));
    expect(() => m.merge()).toThrow('lora: already merged');
    m.unmerge();
    Array.from(backbone.get('blocks.0.attn.qkv.weight').dataSync()).forEach((v, i) => expect(Math.abs(v - w0[i])).toBeLessThan(1e-6));
    pixels.dispose();
    m.dispose();
    backbone.dispose();
  });

  it('q,v slices leave the key projection untouched; the whole-projection variant does not', () => {
    const backbone = tinyBackbone();
    for (const [slices, keyChanged] of [[['q', 'v'], false], [['qkv'], true]] as const) {
      const m = applyMethod(backbone, 'lora', { rank: 2, qkvSlices: [...slices] }, { numClasses: 3 });
      for (const p of m.module.namedParameters()) if (p.name.endsWith('lora_B')) tf.tidy(() => p.variable.assign(tf.ones(p.variable.shape)));
      const k0 = Array.from(backbone.get('blocks.1.attn.qkv.weight').dataSync().slice(32 * 32, 64 * 32));
      m.merge();
      const k1 = Array.from(backbone.get('blocks.1.attn.qkv.weight').dataSync().slice(32 * 32, 64 * 32));
      expect(k1.some((v, i) => v !== k0[i])).toBe(keyChanged);
      m.unmerge();
      m.dispose();
    }
    backbone.dispose();
  });

  it('targets follow peft\'s rules and never silently match nothing', () => {
    const names = ['blocks.0.attn.qkv', 'blocks.0.mlp.fc1', 'blocks.1.attn.qkv', 'blocks.1.mlp.fc1'];
    expect(matchTargets(names, ['attn.qkv'], 'lora')).toEqual(['blocks.0.attn.qkv', 'blocks.1.attn.qkv']);
    expect(matchTargets(names, ['blocks.1.mlp.fc1'], 'lora')).toEqual(['blocks.1.mlp.fc1']);
    expect(matchTargets(names, ['re:blocks\\.0\\..*'], 'lora')).toEqual(['blocks.0.attn.qkv', 'blocks.0.mlp.fc1']);
    expect(() => matchTargets(names, ['qkv2'], 'lora')).toThrow('lora: target "qkv2" matches no layer');
    expect(() => matchTargets(names, ['fc'], 'lora')).toThrow(/target "fc" matches no layer/); // suffixes match whole segments
    const backbone = tinyBackbone();
    expect(() => applyMethod(backbone, 'lora', { targets: 'attn.nope' })).toThrow('lora: target "attn.nope" matches no layer');
    expect(() => applyMethod(backbone, 'lora', { rank: '0' })).toThrow('lora: option "rank" must be a positive integer, got 0');
    expect(() => applyMethod(backbone, 'lora', { qkvSlices: 'q,x' })).toThrow(/"qkvSlices" must be "qkv" or distinct slices among q, k, v/);
    expect(() => applyMethod(backbone, 'lora', { rnak: '4' })).toThrow('lora: unknown option "rnak"; known options: rank, alpha, dropout, targets, qkvSlices, seed');
    const mlp = applyMethod(backbone, 'lora', { targets: 'mlp.fc1,mlp.fc2', rank: 2 });
    expect(mlp.module.namedParameters().map((p) => p.name).filter((n) => n.endsWith('lora_A'))).toEqual([
      'method.blocks.0.mlp.fc1.lora_A', 'method.blocks.0.mlp.fc2.lora_A', 'method.blocks.1.mlp.fc1.lora_A', 'method.blocks.1.mlp.fc2.lora_A',
    ]);
    mlp.dispose();
    backbone.dispose();
  });
});

describe('SSF', () => {
  it('merges into the preceding weights with the same outputs, and unmerges', () => {
    const backbone = tinyBackbone();
    const m = applyMethod(backbone, 'ssf', { initStd: 0.3 }, { numClasses: 3 });
    const { pixels } = batch();
    const before = new Map(backbone.namedParameters().map((p) => [p.name, Array.from(p.variable.dataSync())]));
    const plain = tf.tidy(() => m.forward(pixels).dataSync());
    m.merge();
    const merged = tf.tidy(() => m.forward(pixels).dataSync());
    merged.forEach((v, i) => expect(Math.abs(v - plain[i])).toBeLessThan(1e-4));
    m.unmerge();
    for (const p of backbone.namedParameters()) Array.from(p.variable.dataSync()).forEach((v, i) => expect(Math.abs(v - before.get(p.name)![i])).toBeLessThan(1e-5));
    pixels.dispose();
    m.dispose();
    backbone.dispose();
  });
});

describe('combining methods', () => {
  it('LoRA + VPT-deep on one backbone: both train, one head, save and reload', () => {
    const backbone = tinyBackbone();
    const m = applyMethods(backbone, [{ name: 'lora', config: { rank: 2 } }, { name: 'vpt-deep', config: { prompts: 3 } }], { numClasses: 3 });
    expect(m.name).toBe('lora+vpt-deep');
    expect(m.module.namedParameters().map((p) => p.name)).toEqual(expect.arrayContaining(['method0.blocks.0.attn.qkv.q.lora_A', 'method1.prompts', 'head.fc.weight']));
    expect(m.mergeable).toBe(false);
    expect(() => m.merge()).toThrow('lora+vpt-deep: not mergeable (combined methods are never merged)');
    const { pixels } = batch();
    const saved = m.save();
    const fresh = tinyBackbone();
    const again = loadMethod(fresh, saved.weights, saved.config);
    tf.tidy(() => {
      expect(Array.from(again.forward(pixels).dataSync())).toEqual(Array.from(m.forward(pixels).dataSync()));
    });
    pixels.dispose();
    [m, again].forEach((x) => x.dispose());
    [backbone, fresh].forEach((x) => x.dispose());
  });

  it('refuses combinations that cannot compose, saying why', () => {
    const backbone = tinyBackbone();
    expect(() => applyMethods(backbone, [{ name: 'full' }, { name: 'lora' }])).toThrow('"full" trains every parameter already');
    expect(() => applyMethods(backbone, [{ name: 'side-tuning' }, { name: 'vpt-deep' }])).toThrow(/side-tuning replaces the features/);
    expect(() => applyMethods(backbone, [{ name: 'lora' }, { name: 'lora' }])).toThrow(/appears twice/);
    expect(() => applyMethod(backbone, 'dora')).toThrow(`unknown method "dora"; registered: ${baselineMethods.names().join(', ')}`);
    backbone.dispose();
  });

  it('loading refuses a foreign or mismatched file, naming the key', () => {
    const backbone = tinyBackbone();
    const m = applyMethod(backbone, 'bitfit', {}, { numClasses: 3 });
    const saved = m.save();
    const fresh = tinyBackbone();
    expect(() => loadMethod(fresh, saved.weights, '{"format":"x"}')).toThrow(/config "format" must be "fpt-petl\/1"/);
    const wrong = saved.config.replace('"numClasses": 3', '"numClasses": 4');
    expect(() => loadMethod(fresh, saved.weights, wrong)).toThrow(/key "head.fc.weight" has shape \[3,32\], expected \[4,32\]/);
    fresh.dispose();
    m.dispose();
    backbone.dispose();
  });
});
