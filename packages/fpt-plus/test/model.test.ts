import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, measureStep, trainStep } from '@fpt/core';
import { adapt, createVit, EVAL, MethodRegistry, loadAdapted, trainingContext, vitB16Hf384, vitConfig } from '@fpt/backbone-vit';
import { fptAttachment, fptPlus, fptV1, registerFpt, toAuthorsNames } from '../src/index';
import { pixels, tinyFpt } from './helpers';

describe('parameter counts (docs/method.md), from the built models', () => {
  const counts = (method: ReturnType<typeof fptPlus>) => {
    const lpm = createVit(vitB16Hf384(), { init: 'zeros' });
    const m = adapt(lpm, [method], { numClasses: 5 });
    const report = m.report(2);
    const c = { ...m.counts(), groups: new Map(report.groups.map((g) => [g.name, g.total])) };
    m.dispose();
    lpm.dispose();
    return c;
  };

  it('FPT+ with C = 5 on ViT-B/16 HF: 900,965 learnable of 87,760,461, 1.0266 %', () => {
    const c = counts(fptPlus());
    expect(c.groups.get('fpt-plus.fusion_module')).toBe(149_088);
    expect(c.groups.get('fpt-plus.side_encoder')! + 485).toBe(751_877); // the side ViT, its head being the adapted model's
    expect(c.learnable).toBe(900_965);
    expect(c.total).toBe(87_760_461);
    expect(c.sharePercent.toFixed(4)).toBe('1.0266');
  });

  it('FPT v1 with C = 5: 1,602,341 learnable, 1.811 %', () => {
    const c = counts(fptV1());
    expect(c.learnable).toBe(1_602_341);
    expect(c.sharePercent.toFixed(3)).toBe('1.811');
  });

  it('assembles a custom variant: CLS-row selection, 8 prompts, ViT-S LPM', () => {
    const lpm = createVit(vitConfig('vit-s16', { imageSize: 224 }), { init: 'zeros' });
    const m = adapt(lpm, [fptPlus({ selector: { criterion: 'class_token' }, prompts: 8 })], { numClasses: 2 });
    const fpt = fptAttachment(m);
    expect(fpt.selector.fingerprint.name).toBe('class_token');
    expect(fpt.config.side.hiddenSize).toBe(48);
    expect(fpt.fusion.get('prompts').shape).toEqual([6, 1, 8, 384]);
    m.dispose();
    lpm.dispose();
  });

  it('rejects inconsistent options when made or attached, naming the option', () => {
    const lpm = createVit(vitB16Hf384(), { init: 'zeros' });
    expect(() => adapt(lpm, [fptPlus({ layers: [3, 12] })])).toThrow('fpt-plus: option "layers" holds 12, but the LPM has layers 0..11');
    expect(() => fptPlus({ layers: [6, 6] })).toThrow('fpt-plus: option "layers" holds a layer twice: 6,6');
    expect(() => adapt(lpm, [fptPlus({ side: { numLayers: 4 } })])).toThrow(/"side.numLayers" is 4 but 6 LPM layers are fused/);
    for (const ratio of [5, 0, -1])
      expect(() => fptPlus({ ratio })).toThrow(`fpt-plus: option "ratio" must be a number in (0, 1], got ${ratio}`);
    expect(() => fptPlus({ inputSize: 0 })).toThrow('fpt-plus: option "inputSize" must be a positive integer, got 0');
    expect(() => adapt(lpm, [fptPlus({ inputSize: 500 })])).toThrow(
      'fpt-plus: option "inputSize" 500 is not a multiple of the LPM patch size 16',
    );
    expect(lpm.trainableVariables()).toHaveLength(lpm.namedParameters().length); // untouched by the refusals
    lpm.dispose();
  });

  it('is exclusive at the top level, saying where other methods go', () => {
    const t = tinyFpt();
    const v1 = fptV1({ inputSize: 32, side: { hiddenSize: 16, numHeads: 4, mlpDim: 32, patchSize: 8, imageSize: 16 } });
    expect(() =>
      adapt(t.lpm, [
        fptPlus({ inputSize: 32, prompts: 4, side: { hiddenSize: 16, numHeads: 4, mlpDim: 32, patchSize: 8, imageSize: 16 } }),
        v1,
      ]),
    ).toThrow(/"fpt-plus" cannot be combined with other methods: .*"sideMethods" option/);
    t.dispose();
  });
});

describe('forward, loss and training', () => {
  it("the authors' names cover every learnable tensor", () => {
    const t = tinyFpt();
    const names = Object.keys(toAuthorsNames(t.model, t.model.module.state()));
    expect(names).toContain('fusion_module.layer_norm.weight');
    expect(names).toContain('side_encoder.vit.encoder.layer.1.attention.attention.value.bias');
    expect(names).toContain('side_encoder.classifier.weight');
    expect(names.some((n) => n.includes('qkv'))).toBe(false);
    t.dispose();
  });

  it('dropout only in training; missing inputs and wrong shapes are refused', () => {
    const t = tinyFpt();
    const extras = t.model.prepare(pixels(2, 32, 1));
    tf.tidy(() => {
      const x = pixels(2, 16, 2);
      const a = t.model.forward({ pixels: x, extras });
      const b = t.model.forward({ pixels: x, extras });
      const c = t.model.forward({ pixels: x, extras }, { training: true, seed: 5, step: 0 });
      expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);
      expect(tf.max(tf.abs(tf.sub(a, c))).dataSync()[0]).toBeGreaterThan(0);
      expect(() => t.model.forward({ pixels: pixels(3, 16, 2), extras })).toThrow('FPT: keys hold a batch of 2 but pixels a batch of 3');
      expect(() => t.model.forward({ pixels: x })).toThrow(
        'fpt-plus: the batch lacks extras.keys; compute it with prepare() or load it from a cache',
      );
      expect(() => t.model.prepare(pixels(1, 48, 1))).toThrow('FPT: LPM pixels must be [B, 3, 32, 32], got [1,3,48,48]');
    });
    tf.dispose(Object.values(extras));
    t.dispose();
  });

  it('a training step on cached keys/values leaks nothing, learns, and reports its peak memory; online gives the same numbers', async () => {
    const t = tinyFpt();
    const atStart = tf.memory().numTensors;
    const opt = new AdamW(t.model.trainableVariables(), { lr: 3e-3 });
    const hr = pixels(4, 32, 3);
    const extras = t.model.prepare(hr);
    const batch = { pixels: pixels(4, 16, 4), extras };
    const labels = tf.tensor1d([0, 1, 2, 1], 'int32');
    const lpmBefore = t.lpm.namedParameters().map((p) => Array.from(p.variable.dataSync()));
    const first = trainStep(() => t.model.loss(batch, labels, trainingContext(0)), opt, { clipNorm: 1 }).loss; // creates the optimizer's moments
    const before = tf.memory().numTensors;
    let last = first;
    for (let i = 1; i < 16; i++) last = trainStep(() => t.model.loss(batch, labels, trainingContext(i)), opt, { clipNorm: 1 }).loss;
    expect(tf.memory().numTensors).toBe(before);
    expect(last).toBeLessThan(first);
    const measured = await measureStep(() => trainStep(() => t.model.loss(batch, labels), opt));
    expect(measured.peakBytes).toBeGreaterThan(measured.baselineBytes);
    expect(measured.newTensors).toBe(0);
    // The frozen LPM never changes.
    t.lpm.namedParameters().forEach((p, i) => expect(Array.from(p.variable.dataSync())).toEqual(lpmBefore[i]));
    // Online mode: the LPM runs first, outside the tape; same loss as on the cached keys/values.
    const cachedLoss = tf.tidy(() => t.model.loss(batch, labels).dataSync()[0]);
    const online = t.model.prepare(hr);
    expect(tf.tidy(() => t.model.loss({ pixels: batch.pixels, extras: online }, labels).dataSync()[0])).toBe(cachedLoss);
    tf.dispose(Object.values(online));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([hr, ...Object.values(extras), batch.pixels, labels]);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(atStart); // moments included: nothing of training survives
    t.dispose();
  });

  it('saves and reloads through the registry (selector and side methods included)', () => {
    const t = tinyFpt();
    const registry = registerFpt(new MethodRegistry());
    const saved = t.model.save();
    expect(JSON.parse(saved.config).methods[0].config.selector).toEqual({ criterion: 'global', seed: 0 });
    const again = loadAdapted(t.lpm, saved.weights, saved.config, registry);
    const extras = t.model.prepare(pixels(2, 32, 1));
    const x = pixels(2, 16, 2);
    tf.tidy(() => {
      expect(Array.from(again.forward({ pixels: x, extras }, EVAL).dataSync())).toEqual(
        Array.from(t.model.forward({ pixels: x, extras }).dataSync()),
      );
    });
    tf.dispose([x, ...Object.values(extras)]);
    again.dispose();
    t.dispose();
  });
});

describe('edge cases', () => {
  it('trains with a single fused layer (tfjs unstack gradient pitfall)', () => {
    const t = tinyFpt({ layers: [3] });
    const atStart = tf.memory().numTensors;
    const opt = new AdamW(t.model.trainableVariables(), { lr: 1e-3 });
    const hr = pixels(2, 32, 1);
    const extras = t.model.prepare(hr);
    const x = pixels(2, 16, 2);
    const labels = tf.tensor1d([0, 1], 'int32');
    expect(Number.isFinite(trainStep(() => t.model.loss({ pixels: x, extras }, labels), opt).loss)).toBe(true);
    tf.dispose([hr, x, labels, ...Object.values(extras)]);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(atStart); // moments included: nothing of training survives
    t.dispose();
  });
});
