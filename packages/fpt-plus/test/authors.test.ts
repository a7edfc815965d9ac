import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { readSafetensorsFile } from '@fpt/core/node';
import { loadVitWeights } from '@fpt/backbone-vit';
import { loadAuthorsState, toAuthorsNames } from '../src/index';
import { buildGoldenModel, editedGolden, GOLDEN_FPT } from './golden';

const fixture = GOLDEN_FPT;

const build = buildGoldenModel;

const edited = editedGolden;

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
    for (const n of names) expect(Array.from(back[n]?.dataSync() ?? []), n).toEqual(Array.from(file.get(`fpt.${n}`).data));
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
