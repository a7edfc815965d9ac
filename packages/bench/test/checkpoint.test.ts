import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { adamwStateDict, type AdamWState } from '@fpt/core';
import { readSafetensorsFile, writeSafetensorsFile } from '@fpt/core/node';
import { RunCheckpoints, type CheckpointState } from '../src/run/checkpoint';

const params = [
  { name: 'head.weight', shape: [2, 2] },
  { name: 'head.bias', shape: [2] },
];
const optimizer: AdamWState = {
  step: 7,
  learningRate: 0.001,
  moments: [{ m: new Float32Array([1, 2, 3, 4]), v: new Float32Array([0.1, 0.2, 0.3, 0.4]) }, null],
};
const model = {
  'head.weight': { dtype: 'float32' as const, shape: [2, 2], data: new Float32Array([1, 0, 0, 1]) },
  'head.bias': { dtype: 'float32' as const, shape: [2], data: new Float32Array([0, 0]) },
};
const rest: Omit<CheckpointState, 'format' | 'file' | 'optimizer'> = {
  epoch: 0,
  history: [],
  best: { epoch: -1, valAuc: -1 },
  seconds: { train: 0, eval: 0, steps: 0, stepCount: 0 },
};

describe("the bench's checkpoints go through core's state path (issue 15 point 2)", () => {
  it("stores AdamW's moments by parameter name, as the library's saveOptimizerState, and loads them back", () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    const ckpt = new RunCheckpoints(dir);
    ckpt.save(rest, model, adamwStateDict(optimizer, params));
    const file = readSafetensorsFile(join(dir, 'epoch-0.safetensors'));
    expect(file.names().sort()).toEqual(['model.head.bias', 'model.head.weight', 'optim.m.head.weight', 'optim.v.head.weight']);
    const loaded = ckpt.load(params)!;
    expect(loaded.state.format).toBe('fpt-bench-checkpoint/2');
    expect(loaded.optimizer).toEqual(optimizer);
    expect([...loaded.model.keys()].sort()).toEqual(['head.bias', 'head.weight']);
    // Another model's names are refused as a damaged checkpoint, naming the file.
    expect(() => ckpt.load([{ name: 'other', shape: [2, 2] }, params[1]!])).toThrow(
      /epoch-0\.safetensors: unexpected tensor\(s\): m\.head\.weight, v\.head\.weight/,
    );
  });

  it('still resumes a checkpoint of format /1 (moments by index) written by an older version', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    writeSafetensorsFile(
      join(dir, 'epoch-0.safetensors'),
      {
        'model.head.weight': model['head.weight'],
        'model.head.bias': model['head.bias'],
        'optim.m.0': { dtype: 'float32', shape: [4], data: optimizer.moments[0]!.m },
        'optim.v.0': { dtype: 'float32', shape: [4], data: optimizer.moments[0]!.v },
      },
      { metadata: { format: 'fpt-bench-checkpoint/1' }, checksum: true },
    );
    const state = {
      ...rest,
      format: 'fpt-bench-checkpoint/1',
      file: 'epoch-0.safetensors',
      optimizer: { iterations: 7, learningRate: 0.001, hasMoments: [true, false] },
    };
    writeFileSync(join(dir, 'state.json'), JSON.stringify(state));
    expect(new RunCheckpoints(dir).load(params)!.optimizer).toEqual(optimizer);
  });
});
