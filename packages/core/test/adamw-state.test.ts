import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, trainStep } from '../src/index';

// A small regression problem whose gradients depend on the parameters, so any drift in the
// restored moments or step count changes the trajectory.
function setup() {
  const w = tf.variable(
    tf.tensor2d([
      [0.3, -0.2],
      [0.1, 0.4],
    ]),
  );
  const b = tf.variable(tf.tensor1d([0.05, -0.1]));
  const x = tf.tensor2d([
    [1, 2],
    [-1, 0.5],
    [0.3, -0.7],
  ]);
  const y = tf.tensor2d([
    [0.5, -1],
    [1, 0],
    [-0.2, 0.3],
  ]);
  const loss = () => tf.mean(tf.square(tf.sub(tf.add(tf.matMul(x, w), b), y))) as tf.Scalar;
  return { vars: [w, b], loss, dispose: () => tf.dispose([w, b, x, y]) };
}

describe('AdamW state', () => {
  it('N steps, save, restore into a fresh optimizer, M steps == N + M steps, bit for bit', () => {
    const ref = setup();
    const refOpt = new AdamW(ref.vars, { lr: 0.05 });
    for (let i = 0; i < 7; i++) trainStep(ref.loss, refOpt, { clipNorm: 1 });

    const run = setup();
    const first = new AdamW(run.vars, { lr: 0.05 });
    for (let i = 0; i < 3; i++) trainStep(run.loss, first, { clipNorm: 1 });
    const saved = first.state();
    first.dispose();
    const before = tf.memory().numTensors;
    const resumed = new AdamW(run.vars, { lr: 999 });
    resumed.loadState(saved);
    expect(resumed.iterations).toBe(3);
    expect(resumed.learningRate).toBe(0.05);
    for (let i = 0; i < 4; i++) trainStep(run.loss, resumed, { clipNorm: 1 });
    expect(run.vars.map((v) => Array.from(v.dataSync()))).toEqual(ref.vars.map((v) => Array.from(v.dataSync())));
    resumed.dispose();
    expect(tf.memory().numTensors).toBe(before);
    refOpt.dispose();
    ref.dispose();
    run.dispose();
  });

  it('refuses a state of other variables before changing anything', () => {
    const a = setup();
    const opt = new AdamW(a.vars, { lr: 0.1 });
    trainStep(a.loss, opt);
    const s = opt.state();
    const other = new AdamW(a.vars.slice(0, 1), { lr: 0.1 });
    expect(() => other.loadState(s)).toThrow(/holds 2 variables, this optimizer 1/);
    const bad = { ...s, moments: [s.moments[0] ?? null, { m: new Float32Array(5), v: new Float32Array(5) }] };
    expect(() => opt.loadState(bad)).toThrow(/variable 1 .* hold 5\/5 values, expected 2/);
    expect(opt.iterations).toBe(1);
    opt.dispose();
    other.dispose();
    a.dispose();
  });
});
