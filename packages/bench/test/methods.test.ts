import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { adapt, createVit, loadAdapted, savedMethod, vitConfig } from '@fpt/backbone-vit';
import { fptPlus } from '@fpt/fpt-plus';
import { methodSets, parseMethods } from '../src/commands/run';
import { paramsCommand } from '../src/commands/params';
import { buildTrainable, CLI_METHODS, cliMethod, makeMethod, METHOD_REGISTRY } from '../src/index';

describe('the CLI edge is the registry', () => {
  it('the CLI and the library have one set of defaults: fpt-plus on a 1024-wide LPM is 128 wide either way', () => {
    expect(cliMethod('fpt-plus').make({}).config).toEqual(fptPlus().config);
    expect([...CLI_METHODS.keys()]).toEqual(METHOD_REGISTRY.names());
    const lpm = createVit(vitConfig('vit-l16', { numLayers: 2, mlpDim: 16, imageSize: 32 }), { init: 'zeros' });
    const fromCli = adapt(lpm, [cliMethod('fpt-plus').make({ inputSize: '32' })], { numClasses: 5 });
    const fromLibrary = adapt(lpm, [fptPlus({ inputSize: 32 })], { numClasses: 5 });
    expect(fromCli.counts()).toEqual(fromLibrary.counts());
    expect(fromCli.module.get('head.weight').shape).toEqual([5, 128]);
    [fromCli, fromLibrary, lpm].forEach((o) => o.dispose());
  });

  it('--set takes dotted keys for nested options: fpt-plus.side.hiddenSize=128, fpt-plus.sideMethods=lora', () => {
    const sets = methodSets({ 'fpt-plus.side.hiddenSize': '128', 'fpt-plus.sideMethods': 'lora', 'fpt-plus.sideMethods.lora.rank': '4' }, [
      'fpt-plus',
    ]);
    expect(sets).toEqual({ 'fpt-plus': { 'side.hiddenSize': '128', sideMethods: 'lora', 'sideMethods.lora.rank': '4' } });
    const m = cliMethod('fpt-plus').make(sets['fpt-plus'] ?? {});
    expect(m.config).toMatchObject({ side: { hiddenSize: 128 }, sideMethods: [{ name: 'lora', config: { rank: 4 } }] });
    const lines: string[] = [];
    expect(paramsCommand(['fpt-plus', '--classes', '5', '--set', 'fpt-plus.side.hiddenSize=128'], (l) => lines.push(l))).toBe(0);
    const wide: string[] = [];
    paramsCommand(['fpt-plus', '--classes', '5', '--set', 'side.hiddenSize=128'], (l) => wide.push(l));
    expect(lines.at(-1)).toBe(wide.at(-1));
    expect(lines.at(-1)).not.toBe(
      (() => {
        const d: string[] = [];
        paramsCommand(['fpt-plus', '--classes', '5'], (l) => d.push(l));
        return d.at(-1);
      })(),
    );
  });

  it('a run records the method configuration as saved, which the registry revives to the same method', () => {
    const before = tf.memory().numTensors;
    const lpm = createVit(
      vitConfig({ hiddenSize: 96, numLayers: 2, numHeads: 3, mlpDim: 32, patchSize: 16, imageSize: 32, numClasses: 0 }),
    );
    const t = buildTrainable({
      method: 'fpt-plus',
      options: { 'side.imageSize': '32', sideMethods: 'lora', 'sideMethods.lora.rank': '2' },
      make: makeMethod,
      numClasses: 3,
      seed: 0,
      lpm,
      lpmInputSize: 32,
    });
    const made = cliMethod('fpt-plus').make({ inputSize: '32', 'side.imageSize': '32', sideMethods: 'lora', 'sideMethods.lora.rank': '2' });
    expect(t.options).toEqual(savedMethod(made).config);
    expect(METHOD_REGISTRY.revive({ name: 'fpt-plus', config: JSON.parse(JSON.stringify(t.options)) }).config).toEqual(made.config);
    expect(t.needsInputs).toBe(true);
    t.dispose(); // the LPM included
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('DoRA and (IA)³ in the bench', () => {
  it('fpt-bench params counts them on ViT-B/16 with 5 classes, and --methods all runs them', () => {
    for (const [name, learnable] of [
      ['dora', 612_101],
      ['ia3', 59_141],
    ] as const) {
      const lines: string[] = [];
      expect(paramsCommand([name, '--classes', '5'], (l) => lines.push(l))).toBe(0);
      expect(lines.at(-1)).toMatch(new RegExp(`^learnable=${learnable} total=\\d+ share=`));
    }
    expect(parseMethods('all', [])).toEqual(expect.arrayContaining(['dora', 'ia3', 'fpt-plus', 'lora']));
  });
});

describe('the registry round trip: fromStrings -> adapt -> save -> loadAdapted, for every method', () => {
  const lpmConfig = vitConfig({ hiddenSize: 32, numLayers: 4, numHeads: 4, mlpDim: 64, patchSize: 8, imageSize: 32, numClasses: 0 });
  // FPT's defaults are the paper's ViT-B at 512: on the test LPM its shapes are set.
  const fptSets = {
    inputSize: '32',
    layers: '2,3',
    prompts: '4',
    'side.hiddenSize': '16',
    'side.numHeads': '4',
    'side.patchSize': '8',
    'side.imageSize': '16',
  };
  const cases: Array<[string, string, Record<string, string>]> = [
    ...METHOD_REGISTRY.names().map((n): [string, string, Record<string, string>] => [n, n, n.startsWith('fpt') ? fptSets : {}]),
    ['fpt-plus with LoRA on its side network', 'fpt-plus', { ...fptSets, sideMethods: 'lora', 'sideMethods.lora.rank': '2' }],
    ['fpt-plus with DoRA and (IA)³ on its side network', 'fpt-plus', { ...fptSets, sideMethods: 'dora,ia3', 'sideMethods.dora.rank': '2' }],
    ['fpt with SSF on its side network', 'fpt', { ...fptSets, layers: '', 'side.numLayers': 'auto', sideMethods: 'ssf' }],
  ];

  it.each(cases)('%s', (_label, name, sets) => {
    const start = tf.memory().numTensors;
    const [lpm, fresh] = [createVit(lpmConfig, { seed: 3 }), createVit(lpmConfig, { seed: 3 })];
    const model = adapt(lpm, [METHOD_REGISTRY.fromStrings(name, sets)], { numClasses: 3, seed: 1 });
    // Everything that trains moves away from its initialisation, so the reload is checked on real values.
    let seed = 20;
    for (const v of model.trainableVariables()) tf.tidy(() => v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.05, 'float32', seed++))));
    const saved = model.save();
    const again = loadAdapted(fresh, saved.weights, saved.config, METHOD_REGISTRY);
    expect(again.methods.map((m) => m.config)).toEqual(model.methods.map((m) => m.config));
    const pixels = tf.randomNormal([2, 3, model.imageSize, model.imageSize], 0, 1, 'float32', 7);
    const hr = tf.randomNormal([2, 3, 32, 32], 0, 1, 'float32', 8);
    const extras = model.prepare(hr);
    tf.tidy(() => {
      expect(Array.from(again.forward({ pixels, extras }).dataSync())).toEqual(Array.from(model.forward({ pixels, extras }).dataSync()));
    });
    tf.dispose([pixels, hr, ...Object.values(extras)]);
    [model, again, lpm, fresh].forEach((o) => o.dispose());
    expect(tf.memory().numTensors).toBe(start);
  });
});
