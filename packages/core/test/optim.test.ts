import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, clipGradNorm, configFromStrings, configToStrings, cosineSchedule, measureStep, trainStep } from '../src/index';

describe('AdamW', () => {
  it('matches torch.optim.AdamW step by step', () => {
    // Reference: torch.optim.AdamW([p], lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
    // with p = [1, -2], grads [0.5, 0.25] then [-1, 0.5]; p after step 1 and 2 (float64 hand
    // computation of PyTorch's update order: decay, moments, bias-corrected step).
    const p = tf.variable(tf.tensor1d([1, -2]));
    const opt = new AdamW([p], { lr: 0.1, weightDecay: 0.1 });
    const ref = (p0: number[], gs: Array<[number, number]>) => {
      let m: number[] = [0, 0];
      let v: number[] = [0, 0];
      let x = [...p0];
      gs.forEach((g, t0) => {
        const t = t0 + 1;
        x = x.map((xi) => xi * (1 - 0.1 * 0.1));
        m = m.map((mi, i) => 0.9 * mi + 0.1 * g[i]!);
        v = v.map((vi, i) => 0.999 * vi + 0.001 * g[i]! * g[i]!);
        x = x.map((xi, i) => xi - (0.1 / (1 - 0.9 ** t)) * (m[i]! / (Math.sqrt(v[i]!) / Math.sqrt(1 - 0.999 ** t) + 1e-8)));
      });
      return x;
    };
    const g1 = tf.tensor1d([0.5, 0.25]);
    const g2 = tf.tensor1d([-1, 0.5]);
    opt.step(new Map([[p, g1]]));
    opt.step(new Map([[p, g2]]));
    const expected = ref(
      [1, -2],
      [
        [0.5, 0.25],
        [-1, 0.5],
      ],
    );
    const [got0, got1] = p.dataSync();
    const [want0, want1] = expected;
    expect(got0).toBeCloseTo(want0!, 6);
    expect(got1).toBeCloseTo(want1!, 6);
    tf.dispose([g1, g2, p]);
    opt.dispose();
  });

  it('frees everything it allocated, moments included, on dispose', () => {
    const p = tf.variable(tf.ones([3]));
    const before = tf.memory().numTensors;
    const opt = new AdamW([p], { lr: 0.1 });
    const g = tf.ones([3]);
    opt.step(new Map([[p, g]]));
    opt.step(new Map([[p, g]]));
    g.dispose();
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before);
    p.dispose();
  });

  it('rejects a bad learning rate', () => {
    expect(() => new AdamW([], { lr: -1 })).toThrow('AdamW: option "lr" must be a non-negative number, got -1');
  });

  it('applies a gradient scale as if the gradients had been multiplied by it, and refuses a bad one', () => {
    const run = (scaleFirst: boolean, scale = 0.3) => {
      const p = tf.variable(tf.tensor1d([0.5, -1.25, 2]));
      // A large eps: Adam's update is otherwise nearly blind to a gradient's scale.
      const opt = new AdamW([p], { lr: 0.1, eps: 1 });
      for (const raw of [
        [3, -4, 0.5],
        [1, 2, -7],
      ]) {
        const g = tf.tensor1d(raw);
        if (scaleFirst) {
          const scaled = tf.mul(g, scale);
          opt.step(new Map([[p, scaled]]));
          scaled.dispose();
        } else opt.step(new Map([[p, g]]), { gradScale: scale });
        g.dispose();
      }
      const out = Array.from(p.dataSync());
      opt.dispose();
      p.dispose();
      return out;
    };
    const scaled = run(false);
    expect(scaled).toEqual(run(true)); // bit for bit
    expect(scaled).not.toEqual(run(false, 1)); // and the scale changes the steps
    const p = tf.variable(tf.ones([2]));
    const opt = new AdamW([p], { lr: 0.1 });
    const g = tf.ones([2]);
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => opt.step(new Map([[p, g]]), { gradScale: bad })).toThrow(
        `AdamW.step: "gradScale" must be a finite number above 0, got ${bad}`,
      );
    }
    expect(opt.iterations).toBe(0); // refused before anything changed
    tf.dispose([g, p]);
    opt.dispose();
  });
});

describe('gradient clipping and schedules', () => {
  it('clips by the global norm like clip_grad_norm_', () => {
    const a = tf.variable(tf.zeros([2]));
    const b = tf.variable(tf.zeros([1]));
    const ga = tf.tensor1d([3, 0]);
    const gb = tf.tensor1d([4]);
    const { grads, totalNorm } = clipGradNorm(
      new Map<tf.Variable, tf.Tensor>([
        [a, ga],
        [b, gb],
      ]),
      1,
    );
    expect(totalNorm).toBeCloseTo(5, 6);
    expect(Array.from(grads.get(a)!.dataSync())[0]).toBeCloseTo(3 / (5 + 1e-6), 6);
    expect(Array.from(grads.get(b)!.dataSync())[0]).toBeCloseTo(4 / (5 + 1e-6), 6);
    const loose = clipGradNorm(new Map<tf.Variable, tf.Tensor>([[a, ga]]), 10);
    expect(Array.from(loose.grads.get(a)!.dataSync())).toEqual([3, 0]);
    tf.dispose([a, b, ga, gb, ...grads.values(), ...loose.grads.values()]);
  });

  it('decays half a cosine to zero', () => {
    const s = cosineSchedule(2e-4, 100);
    expect(s(0)).toBe(2e-4);
    expect(s(50)).toBeCloseTo(1e-4, 12);
    expect(s(100)).toBeCloseTo(0, 12);
    expect(() => cosineSchedule(1, 0)).toThrow(/"totalSteps" must be positive/);
  });
});

describe('trainStep and measureStep', () => {
  it('minimises a quadratic without leaking tensors, and reports peak memory', async () => {
    const w = tf.variable(tf.tensor1d([3, -1]));
    const opt = new AdamW([w], { lr: 0.1, weightDecay: 0 });
    const loss = () => tf.sum(tf.square(w)) as tf.Scalar;
    trainStep(loss, opt, { clipNorm: 1 }); // creates the optimizer's moments
    const before = tf.memory().numTensors;
    let last = Infinity;
    for (let i = 0; i < 20; i++) last = trainStep(loss, opt, { clipNorm: 1 }).loss;
    expect(tf.memory().numTensors).toBe(before);
    expect(last).toBeLessThan(10);
    const measured = await measureStep(() => trainStep(loss, opt));
    expect(measured.peakBytes).toBeGreaterThan(0);
    expect(measured.newTensors).toBe(0);
    expect(measured.result.loss).toBeGreaterThanOrEqual(0);
    opt.dispose();
    w.dispose();
  });

  it('splits a step into the forward pass, the backward pass and the update for memory measurements', async () => {
    // Weights far larger than the activations: the update (weights, moments, gradients and one
    // parameter's new values) holds the step's peak, which the backward pass alone does not reach.
    const w = tf.variable(tf.randomNormal([256, 256], 0, 0.05, 'float32', 3));
    const x = tf.randomNormal([2, 256], 0, 1, 'float32', 4);
    const opt = new AdamW([w], { lr: 0.01 });
    const loss = () => tf.mean(tf.square(tf.matMul(x, w))) as tf.Scalar;
    trainStep(loss, opt, { clipNorm: 1 });
    const m = await measureStep(() => trainStep(loss, opt, { clipNorm: 1 }));
    expect(m.phasePeakBufferBytes).toHaveLength(3);
    const [, backward, update] = m.phasePeakBufferBytes as [number, number, number];
    expect(Math.max(...m.phasePeakBufferBytes)).toBe(m.peakBufferBytes);
    expect(update).toBe(m.peakBufferBytes);
    expect(update).toBeGreaterThan(backward);
    tf.dispose([w, x]);
    opt.dispose();
  });
});

describe('option parsing', () => {
  it("converts --set strings to the defaults' types", () => {
    const d = { rank: 16, merge: false, targets: ['q', 'v'], init: 'kaiming' };
    expect(configFromStrings(d, { rank: '8', merge: 'true', targets: 'qkv', init: 'zeros' }, 'lora')).toEqual({
      rank: 8,
      merge: true,
      targets: ['qkv'],
      init: 'zeros',
    });
    expect(() => configFromStrings(d, { rnak: '8' }, 'lora')).toThrow(
      'lora: unknown option "rnak"; known options: rank, merge, targets, init',
    );
    expect(() => configFromStrings(d, { rank: 'x' }, 'lora')).toThrow('lora: option "rank" expects a decimal number, got "x"');
  });

  it('sets nested fields by dotted key; kinds type the options whose default is null or an empty list', () => {
    const d = { side: { hiddenSize: null as number | null, patchSize: 16 }, layers: [] as number[], ratio: 0.2 };
    const kinds = { 'side.hiddenSize': 'number?', layers: 'numbers' } as const;
    const c = configFromStrings(d, { 'side.hiddenSize': '128', 'side.patchSize': '8', layers: '6,7' }, 'fpt-plus', kinds);
    expect(c).toEqual({ side: { hiddenSize: 128, patchSize: 8 }, layers: [6, 7], ratio: 0.2 });
    expect(d.side.hiddenSize).toBeNull(); // the defaults are not changed
    expect(configFromStrings(c, { 'side.hiddenSize': 'auto' }, 'fpt-plus', kinds).side.hiddenSize).toBeNull();
    expect(() => configFromStrings(d, { 'side.width': '8' }, 'fpt-plus', kinds)).toThrow(
      'fpt-plus: unknown option "side.width"; known options: side.hiddenSize, side.patchSize',
    );
    expect(() => configFromStrings(d, { 'ratio.x': '8' }, 'fpt-plus', kinds)).toThrow(
      'fpt-plus: unknown option "ratio.x"; known options: side, layers, ratio',
    );
    expect(() => configFromStrings(d, { layers: '6,x' }, 'fpt-plus', kinds)).toThrow(
      'fpt-plus: option "layers" expects a decimal number, got "6,x"',
    );
    expect(() => configFromStrings(d, { 'side.hiddenSize': '8' }, 'fpt-plus')).toThrow(
      'fpt-plus: option "side.hiddenSize" cannot be set from a string (its default null does not give its type)',
    );
  });
});

describe('initialisers', () => {
  it('truncatedNormal follows trunc_normal_: absolute bounds, std before truncation', async () => {
    const { Rng, truncatedNormal } = await import('../src/index');
    const wide = Array.from(truncatedNormal([20000], 0.02, new Rng(1)).dataSync());
    const sd = Math.sqrt(wide.reduce((a, x) => a + x * x, 0) / wide.length);
    expect(sd).toBeGreaterThan(0.0195);
    expect(sd).toBeLessThan(0.0205);
    const cut = Array.from(truncatedNormal([20000], 1, new Rng(2), [-0.5, 1]).dataSync());
    expect(Math.min(...cut.slice(0, 5000))).toBeGreaterThanOrEqual(-0.5);
    expect(cut.every((x) => x >= -0.5 && x <= 1)).toBe(true);
    expect(() => truncatedNormal([2], 1, new Rng(3), [1, -1])).toThrow(/bounds \[1, -1\] must be increasing/);
  });
});

describe('configToStrings', () => {
  it('writes every option as --set takes it, and configFromStrings reads it back', () => {
    const defaults = {
      rank: 4,
      scale: 0.5,
      merge: false,
      targets: ['qkv'],
      layers: [] as number[],
      width: null as number | null,
      side: { size: 64, name: 'a' },
    };
    const config = {
      rank: 8,
      scale: 1e-7,
      merge: true,
      targets: ['qkv', 'proj'],
      layers: [0, 3],
      width: 24,
      side: { size: 32, name: 'b' },
    };
    const strings = configToStrings(config);
    expect(strings).toEqual({
      rank: '8',
      scale: '1e-7',
      merge: 'true',
      targets: 'qkv,proj',
      layers: '0,3',
      width: '24',
      'side.size': '32',
      'side.name': 'b',
    });
    expect(configFromStrings(defaults, strings, 'm', { layers: 'numbers', width: 'number?' })).toEqual(config);
    expect(configToStrings(defaults)).toMatchObject({ layers: '', width: 'auto' });
    expect(configToStrings({ methods: [{ name: 'lora', config: {} }] })).toEqual({ methods: 'lora' });
    expect(() => configToStrings({ bad: [[1]] })).toThrow('configToStrings: option "bad" holds [1], which has no --set string form');
  });
});
