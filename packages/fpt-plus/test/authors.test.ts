import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { readSafetensorsFile } from '@fpt/core/node';
import type { TensorEntry } from '@fpt/core';
import { adapt, createVit, loadVitWeights, vitConfig } from '@fpt/backbone-vit';
import { fptPlus, loadAuthorsState, toAuthorsNames } from '../src/index';

const fixture = new URL('../../../test/fixtures/golden/fptplus-tiny.safetensors', import.meta.url).pathname;

// The fixture's configuration (its metadata's `config`), spelled out.
const LPM = vitConfig({
  hiddenSize: 64,
  numLayers: 4,
  numHeads: 4,
  mlpDim: 256,
  patchSize: 8,
  imageSize: 32,
  numClasses: 7,
  layerNormEps: 1e-12,
  posEmbedResample: 'hf',
});
const build = () => {
  const lpm = createVit(LPM, { init: 'zeros' });
  const model = adapt(
    lpm,
    [
      fptPlus({
        inputSize: 48,
        layers: [2, 3],
        prompts: 4,
        side: { hiddenSize: 16, numHeads: 4, mlpDim: 64, patchSize: 8, imageSize: 16 },
      }),
    ],
    { numClasses: 3 },
  );
  return { lpm, model, dispose: () => [model, lpm].forEach((x) => x.dispose()) };
};

/** The fixture's tensors with some entries replaced or removed. */
function edited(edit: (m: Map<string, TensorEntry>) => void) {
  const file = readSafetensorsFile(fixture);
  const m = new Map(file.names().map((n) => [n, file.get(n)]));
  edit(m);
  return { names: () => [...m.keys()], get: (n: string) => m.get(n)!, source: 'edited.safetensors' };
}

describe("the authors' state-dict mapping", () => {
  it('loads the golden learnable weights and maps them back to the same names and values', () => {
    const file = readSafetensorsFile(fixture);
    const { lpm, model, dispose } = build();
    loadVitWeights(lpm, file, { prefix: 'lpm.' });
    const report = loadAuthorsState(model, file, 'fpt.');
    expect(report.loaded).toHaveLength(model.module.namedParameters().length);
    const back = toAuthorsNames(model, model.module.state());
    const names = file
      .names()
      .filter((n) => n.startsWith('fpt.'))
      .map((n) => n.slice(4));
    expect(Object.keys(back).sort()).toEqual(names.sort());
    for (const n of names) expect(Array.from(back[n].dataSync())).toEqual(Array.from(file.get(`fpt.${n}`).data));
    tf.dispose(
      Object.entries(back)
        .filter(([n]) => /query|key|value/.test(n))
        .map(([, t]) => t),
    );
    dispose();
  });

  it('names the key at fault: missing, wrong shape, unexpected; a failed load changes nothing', () => {
    const { model, dispose } = build();
    const before = model.module.namedParameters().map((p) => Array.from(p.variable.dataSync()));
    expect(() =>
      loadAuthorsState(
        model,
        edited((m) => m.delete('fpt.fusion_module.layer_norm.bias')),
        'fpt.',
      ),
    ).toThrow('loadAuthorsState: edited.safetensors: missing key "fpt.fusion_module.layer_norm.bias"');
    expect(() =>
      loadAuthorsState(
        model,
        edited((m) =>
          m.set('fpt.side_encoder.vit.encoder.layer.1.attention.attention.key.weight', {
            dtype: 'float32',
            shape: [16, 8],
            data: new Float32Array(128),
            sourceDtype: 'F32',
          }),
        ),
        'fpt.',
      ),
    ).toThrow('key "fpt.side_encoder.vit.encoder.layer.1.attention.attention.key.weight" has shape [16,8], expected [16,16]');
    expect(() =>
      loadAuthorsState(
        model,
        edited((m) => m.set('fpt.fusion_module.extra', m.get('fpt.fusion_module.out_proj.bias')!)),
        'fpt.',
      ),
    ).toThrow('loadAuthorsState: edited.safetensors: unexpected key(s): fpt.fusion_module.extra');
    model.module.namedParameters().forEach((p, i) => expect(Array.from(p.variable.dataSync())).toEqual(before[i]));
    dispose();
  });
});
