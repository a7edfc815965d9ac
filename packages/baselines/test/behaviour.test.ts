import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, formatParameterReport, measureStep, trainStep } from '@fpt/core';
import { adapt, loadAdapted, trainingContext } from '@fpt/backbone-vit';
import { batch, registry, tinyBackbone } from './helpers';

const snapshot = (vars: Array<{ name: string; variable: tf.Variable }>) =>
  new Map(vars.map((p) => [p.name, Array.from(p.variable.dataSync())]));
const make = (name: string) => registry.get(name)();

// The shared behaviour suite: one matrix over every registered method, peft-style.
describe.each(registry.names())('%s', (name) => {
  it('adapts and disposes without leaving tensors behind', () => {
    const start = tf.memory().numTensors;
    const backbone = tinyBackbone();
    const m = adapt(backbone, [make(name)], { numClasses: 3 });
    m.dispose();
    expect(backbone.trainableVariables()).toHaveLength(0); // what the method unfroze is frozen again
    backbone.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it("an optimizer step changes only the method's parameters and the head; frozen weights are bit-identical", () => {
    const backbone = tinyBackbone();
    const m = adapt(backbone, [make(name)], { numClasses: 3 });
    const { pixels, labels } = batch();
    const trainedBackbone = new Set(m.stack.unfrozen);
    const before = snapshot(backbone.namedParameters());
    const ownBefore = snapshot(m.module.namedParameters());
    const opt = new AdamW(m.trainableVariables(), { lr: 1e-2, weightDecay: 0 });
    trainStep(() => m.loss({ pixels }, labels, trainingContext(0)), opt, { clipNorm: 1 });
    for (const p of backbone.namedParameters()) {
      const same = Array.from(p.variable.dataSync()).every((v, i) => v === before.get(p.name)![i]);
      if (trainedBackbone.has(p.name)) continue;
      expect(same, `${name}: frozen ${p.name} changed`).toBe(true);
    }
    const changedOwn = m.module
      .namedParameters()
      .filter((p) => Array.from(p.variable.dataSync()).some((v, i) => v !== ownBefore.get(p.name)![i]));
    expect(changedOwn.map((p) => p.name)).toContain('head.weight');
    if (trainedBackbone.size) {
      const changed = [...trainedBackbone].filter((n) => Array.from(backbone.get(n).dataSync()).some((v, i) => v !== before.get(n)![i]));
      expect(changed.length).toBeGreaterThan(0);
    }
    tf.dispose([pixels, labels]);
    opt.dispose();
    m.dispose();
    backbone.dispose();
  });

  it('leaks no tensor per step or forward (forward tidies itself), and reports its peak memory', async () => {
    const backbone = tinyBackbone();
    const m = adapt(backbone, [make(name)], { numClasses: 3 });
    const { pixels, labels } = batch();
    const beforeOptimizer = tf.memory().numTensors;
    const opt = new AdamW(m.trainableVariables(), { lr: 1e-3 });
    trainStep(() => m.loss({ pixels }, labels, trainingContext(0)), opt);
    const before = tf.memory().numTensors;
    trainStep(() => m.loss({ pixels }, labels, trainingContext(1)), opt);
    const logits = m.forward({ pixels }); // outside any tidy: only the logits survive
    expect(tf.memory().numTensors).toBe(before + 1);
    logits.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const measured = await measureStep(() => trainStep(() => m.loss({ pixels }, labels), opt));
    expect(measured.peakBytes).toBeGreaterThan(measured.baselineBytes);
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(beforeOptimizer); // the optimizer's moments are freed too
    tf.dispose([pixels, labels]);
    m.dispose();
    backbone.dispose();
  });

  it('saves method-only weights and reloads them onto a fresh backbone with identical outputs', () => {
    const backbone = tinyBackbone();
    const m = adapt(backbone, [make(name)], { numClasses: 3 });
    const { pixels, labels } = batch();
    const opt = new AdamW(m.trainableVariables(), { lr: 1e-2 });
    for (let i = 0; i < 2; i++) trainStep(() => m.loss({ pixels }, labels), opt);
    const saved = m.save();
    const fresh = tinyBackbone();
    const again = loadAdapted(fresh, saved.weights, saved.config, registry);
    tf.tidy(() => {
      expect(Array.from(again.forward({ pixels }).dataSync())).toEqual(Array.from(m.forward({ pixels }).dataSync()));
    });
    expect(JSON.parse(saved.config).methods[0].name).toBe(name);
    tf.dispose([pixels, labels]);
    opt.dispose();
    [m, again].forEach((x) => x.dispose());
    [backbone, fresh].forEach((x) => x.dispose());
  });

  it('reports its trainable parameters per module', () => {
    const backbone = tinyBackbone();
    const m = adapt(backbone, [make(name)], { numClasses: 3 });
    const table = formatParameterReport(m.report());
    expect(table).toMatch(/^head\.weight\s/m);
    const counts = m.counts();
    expect(counts.learnable).toBe(m.trainableVariables().reduce((a, v) => a + v.size, 0));
    expect(table.split('\n').at(-1)).toContain(`trainable params: ${counts.learnable.toLocaleString('en-US')}`);
    m.dispose();
    backbone.dispose();
  });
});
