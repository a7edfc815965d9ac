import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, trainStep } from '@fpt/core';
import { adapt, loadAdapted, trainingContext, type AdaptedModel } from '@fpt/backbone-vit';
import { bitfit, lora, vptDeep } from '../src/index';
import { batch, registry, tinyBackbone } from './helpers';

const params = (m: AdaptedModel) => m.trainableVariables().map((v) => Array.from(v.dataSync()));

describe('exact resume', () => {
  it('N steps, save weights and optimizer state, restore on a fresh backbone, M steps == N + M steps, bit for bit', () => {
    const { pixels, labels } = batch();
    const methods = () => [lora({ rank: 2, dropout: 0.2 }), vptDeep({ prompts: 2 })];
    const step = (m: AdaptedModel, opt: AdamW, i: number) =>
      trainStep(() => m.loss({ pixels }, labels, trainingContext(i, 7)), opt, { clipNorm: 1 });

    const refBackbone = tinyBackbone();
    const ref = adapt(refBackbone, methods(), { numClasses: 3 });
    const refOpt = new AdamW(ref.trainableVariables(), { lr: 1e-2 });
    for (let i = 0; i < 5; i++) step(ref, refOpt, i);

    const backbone = tinyBackbone();
    const first = adapt(backbone, methods(), { numClasses: 3 });
    const opt = new AdamW(first.trainableVariables(), { lr: 1e-2 });
    for (let i = 0; i < 2; i++) step(first, opt, i);
    const saved = first.save();
    const optState = first.saveOptimizerState(opt);
    opt.dispose();
    first.dispose();
    backbone.dispose();

    const fresh = tinyBackbone();
    const resumed = loadAdapted(fresh, saved.weights, saved.config, registry);
    const opt2 = new AdamW(resumed.trainableVariables(), { lr: 123 });
    resumed.loadOptimizerState(opt2, optState);
    expect(opt2.iterations).toBe(2);
    for (let i = 2; i < 5; i++) step(resumed, opt2, i);
    expect(params(resumed)).toEqual(params(ref));

    expect(() => resumed.loadOptimizerState(opt2, saved.weights)).toThrow(
      /^optimizer state \(.+\): metadata "format" must be "fpt-adamw\/1", got "fpt-adapted\/1"$/,
    );
    const other = adapt(tinyBackbone(), [bitfit()], { numClasses: 3 });
    const otherOpt = new AdamW(other.trainableVariables(), { lr: 1 });
    expect(() => other.loadOptimizerState(otherOpt, optState)).toThrow(/optimizer state \(bitfit\): unexpected tensor\(s\): m\.lora\./);
    [refOpt, opt2, otherOpt].forEach((o) => o.dispose());
    [ref, resumed, other].forEach((m) => m.dispose());
    [refBackbone, fresh, other.backbone].forEach((b) => b.dispose());
    tf.dispose([pixels, labels]);
  });
});
