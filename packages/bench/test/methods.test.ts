import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { adapt, createVit, savedMethod, vitConfig } from '@fpt/backbone-vit';
import { fptPlus } from '@fpt/fpt-plus';
import { methodSets } from '../src/commands/run';
import { paramsCommand } from '../src/commands/params';
import { buildTrainable, CLI_METHODS, cliMethod, METHOD_REGISTRY } from '../src/index';

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
    const m = cliMethod('fpt-plus').make(sets['fpt-plus']);
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
