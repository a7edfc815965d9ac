import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, trainStep } from '@fpt/core';
import { MethodRegistry, loadAdapted, trainingContext, type Method } from '@fpt/backbone-vit';
import { adapterHoulsby, adapterPfeiffer, bitfit, dora, ia3, lora, registerBaselines, ssf } from '@fpt/baselines';
import { registerFpt } from '../src/index';
import { pixels, tinyFpt } from './helpers';

const cases: Array<[string, Method, string]> = [
  ['lora', lora({ rank: 2 }), 'side_methods.lora.blocks.0.attn.qkv.q.lora_A'],
  ['ssf', ssf(), 'side_methods.ssf.blocks.1.mlp.fc1.ssf_scale'],
  ['adapter-houlsby', adapterHoulsby({ bottleneck: 4 }), 'side_methods.adapter-houlsby.blocks.0.adapter_mlp.down.weight'],
  ['adapter-pfeiffer', adapterPfeiffer({ bottleneck: 4 }), 'side_methods.adapter-pfeiffer.blocks.1.adapter_mlp.down.weight'],
  ['dora', dora({ rank: 2 }), 'side_methods.dora.blocks.0.attn.qkv.v.lora_magnitude_vector'],
  ['ia3', ia3(), 'side_methods.ia3.blocks.1.mlp.fc2.ia3_l'],
];

describe("baselines on FPT+'s side network", () => {
  it.each(cases)('%s: its own parameters change after optimizer steps; the side network follows its rules', (_name, method, param) => {
    const t = tinyFpt({ sideMethods: [method] });
    const own = t.fpt.module.get(param);
    const sideWeight = t.fpt.side.get('blocks.0.attn.qkv.weight');
    const ownBefore = Array.from(own.dataSync());
    const sideBefore = Array.from(sideWeight.dataSync());
    const atStart = tf.memory().numTensors;
    const opt = new AdamW(t.model.trainableVariables(), { lr: 1e-2, weightDecay: 0 });
    const hr = pixels(3, 32, 1);
    const extras = t.model.prepare(hr);
    hr.dispose();
    const x = pixels(3, 16, 2);
    const labels = tf.tensor1d([0, 1, 2], 'int32');
    for (let i = 0; i < 3; i++) trainStep(() => t.model.loss({ pixels: x, extras }, labels, trainingContext(i)), opt, { clipNorm: 1 });
    expect(Array.from(own.dataSync())).not.toEqual(ownBefore);
    expect(Array.from(sideWeight.dataSync())).toEqual(sideBefore); // frozen: the method tunes it
    tf.dispose([x, labels, ...Object.values(extras)]);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(atStart);
    t.dispose();
  });

  it('BitFit on the side network trains its biases only', () => {
    const t = tinyFpt({ sideMethods: [bitfit()] });
    const trained = t.model.trainableVariables();
    const sideBiases = t.fpt.side.namedParameters().filter((p) => p.name.endsWith('.bias'));
    for (const p of sideBiases) expect(trained).toContain(p.variable);
    expect(trained).not.toContain(t.fpt.side.get('blocks.0.attn.qkv.weight'));
    t.dispose();
  });

  it('saves and reloads with the side methods through one registry', () => {
    const t = tinyFpt({ sideMethods: [lora({ rank: 2 })] });
    for (const p of t.fpt.module.namedParameters())
      if (p.name.endsWith('lora_B')) tf.tidy(() => p.variable.assign(tf.randomNormal(p.variable.shape, 0, 0.3, 'float32', 7)));
    const registry = registerFpt(registerBaselines(new MethodRegistry()));
    const saved = t.model.save();
    expect(JSON.parse(saved.config).methods[0].config.sideMethods).toEqual([
      { name: 'lora', config: expect.objectContaining({ rank: 2 }) },
    ]);
    const again = loadAdapted(t.lpm, saved.weights, saved.config, registry);
    const extras = t.model.prepare(pixels(2, 32, 1));
    const x = pixels(2, 16, 2);
    tf.tidy(() => {
      expect(Array.from(again.forward({ pixels: x, extras }).dataSync())).toEqual(
        Array.from(t.model.forward({ pixels: x, extras }).dataSync()),
      );
    });
    tf.dispose([x, ...Object.values(extras)]);
    again.dispose();
    t.dispose();
  });
});
