import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { measureStep } from '@fpt/core';
import { vitConfig } from '@fpt/backbone-vit';
import { createFptOptimizer, FptModel, fptOnlineTrainStep, fptParameterCounts, fptPlusConfig, fptTrainStep, fptV1Config, toAuthorsNames } from '../src/index';
import { pixels, tinyModel } from './helpers';

describe('parameter counts (DESIGN.md §3), from the built models', () => {
  it('FPT+ with C = 5 on ViT-B/16 HF: 900,965 learnable, 1.0266 %', () => {
    const m = new FptModel(fptPlusConfig(5));
    const c = fptParameterCounts(m);
    expect(c.fusion).toBe(149_088);
    expect(c.side).toBe(751_877);
    expect(c.learnable).toBe(900_965);
    expect(c.lpm).toBe(86_859_496);
    expect(c.sharePercent.toFixed(4)).toBe('1.0266');
    m.dispose();
  });

  it('FPT v1 with C = 5: 1,602,341 learnable, 1.811 %', () => {
    const m = new FptModel(fptV1Config(5));
    const c = fptParameterCounts(m);
    expect(c.learnable).toBe(1_602_341);
    expect(c.sharePercent.toFixed(3)).toBe('1.811');
    m.dispose();
  });

  it('assembles a custom variant: CLS-row selection, 8 prompts, ViT-S LPM', () => {
    const m = new FptModel(fptPlusConfig(2, { lpm: vitConfig('vit-s16', { imageSize: 224 }), selection: { criterion: 'class_token' }, fusion: { prompts: 8 } }));
    expect(m.selector.name).toBe('class_token');
    expect(m.config.side.hiddenSize).toBe(48);
    expect(m.fusion.get('prompts').shape).toEqual([6, 1, 8, 384]);
    m.dispose();
  });

  it('rejects inconsistent configs, naming the option', () => {
    expect(() => fptPlusConfig(5, { layers: [3, 12] })).toThrow('FPT config: "layers" holds 12, but the LPM has layers 0..11');
    expect(() => fptPlusConfig(5, { side: { numLayers: 4 } })).toThrow(/"side.numLayers" is 4 but 6 LPM layers are fused/);
    expect(() => fptPlusConfig(5, { selection: { criterion: 'psychic' } }) && new FptModel(fptPlusConfig(5, { selection: { criterion: 'psychic' } }))).toThrow(/unknown token-selection criterion "psychic"/);
  });
});

describe('forward, loss and training', () => {
  it('the authors\' names cover every learnable tensor', () => {
    const m = tinyModel();
    const names = Object.keys(toAuthorsNames(m.learnable.state()));
    expect(names).toContain('fusion_module.layer_norm.weight');
    expect(names).toContain('side_encoder.vit.encoder.layer.1.attention.attention.value.bias');
    expect(names).toContain('side_encoder.classifier.weight');
    expect(names.some((n) => n.includes('qkv'))).toBe(false);
    m.dispose();
  });

  it('dropout only in training; wrong shapes are refused', () => {
    const m = tinyModel();
    tf.tidy(() => {
      const kv = m.extractKeyValues(pixels(2, 32, 1));
      const x = pixels(2, 16, 2);
      const a = m.forward(kv, x).logits;
      const b = m.forward(kv, x).logits;
      const c = m.forward(kv, x, { training: true, seed: 5 }).logits;
      expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);
      expect(tf.max(tf.abs(tf.sub(a, c))).dataSync()[0]).toBeGreaterThan(0);
      expect(() => m.forward(kv, pixels(3, 16, 2))).toThrow('FptModel.forward: keys hold a batch of 2 but pixels a batch of 3');
      expect(() => m.extractKeyValues(pixels(1, 48, 1))).toThrow('FptModel.extractKeyValues: pixels must be [B, 3, 32, 32], got [1,3,48,48]');
    });
    m.dispose();
  });

  it('a training step on cached keys/values leaks nothing, learns, and reports its peak memory', async () => {
    const m = tinyModel();
    const atStart = tf.memory().numTensors;
    const opt = createFptOptimizer(m, { lr: 3e-3 });
    const hr = pixels(4, 32, 3);
    const batch = { kv: m.extractKeyValues(hr), pixelsLr: pixels(4, 16, 4), labels: tf.tensor1d([0, 1, 2, 1], 'int32') };
    const lpmBefore = m.lpm.namedParameters().map((p) => Array.from(p.variable.dataSync()));
    const first = fptTrainStep(m, opt, batch, { seed: 1 }).loss; // creates the optimizer's moments
    const before = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 15; i++) last = fptTrainStep(m, opt, batch, { seed: i + 2 }).loss;
    expect(tf.memory().numTensors).toBe(before);
    expect(last).toBeLessThan(first);
    const measured = await measureStep(() => fptTrainStep(m, opt, batch));
    expect(measured.peakBytes).toBeGreaterThan(measured.baselineBytes);
    expect(measured.newTensors).toBe(0);
    // The frozen LPM never changes.
    m.lpm.namedParameters().forEach((p, i) => expect(Array.from(p.variable.dataSync())).toEqual(lpmBefore[i]));
    const online = fptOnlineTrainStep(m, opt, { pixelsHr: hr, pixelsLr: batch.pixelsLr, labels: batch.labels });
    expect(Number.isFinite(online.loss)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([hr, batch.kv.keys, batch.kv.values, batch.pixelsLr, batch.labels]);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(atStart); // moments included: nothing of training survives
    m.dispose();
  });
});

describe('edge cases', () => {
  it('trains with a single fused layer (tfjs unstack gradient pitfall)', () => {
    const m = tinyModel({ layers: [3], side: { hiddenSize: 16, numHeads: 4, mlpDim: 32, patchSize: 8, imageSize: 16, numLayers: 1 } });
    const atStart = tf.memory().numTensors;
    const opt = createFptOptimizer(m, { lr: 1e-3 });
    const hr = pixels(2, 32, 1);
    const batch = { kv: m.extractKeyValues(hr), pixelsLr: pixels(2, 16, 2), labels: tf.tensor1d([0, 1], 'int32') };
    expect(Number.isFinite(fptTrainStep(m, opt, batch).loss)).toBe(true);
    tf.dispose([hr, batch.kv.keys, batch.kv.values, batch.pixelsLr, batch.labels]);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(atStart); // moments included: nothing of training survives
    m.dispose();
  });
});
