import { AdamW, FusedKernel, gelu, layerNorm, linear, linearGelu, runFusedKernel } from '@fpt/core';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { afterAll, describe, expect, it } from 'vitest';
import { disableFastKernels, enableFastKernels, loadNative } from '../src/index';

// Every native element-wise kernel against the stock CPU backend's, for every instruction set of
// this CPU: odd lengths (vector tails), axes of size 1, several threads' worth of work, and the
// special values of exp and erf.

type Case = { label: string; run: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor | tf.Tensor[]; x: number[]; y?: number[]; tol?: number };

const CASES: Case[] = [
  { label: 'add, same shape', run: (x, y) => tf.add(x, y), x: [9, 1001], y: [9, 1001] },
  { label: 'add, a bias', run: (x, y) => tf.add(x, y), x: [4, 50, 77], y: [77] },
  { label: 'sub, per-row values', run: (x, y) => tf.sub(x, y), x: [4, 50, 77], y: [4, 50, 1] },
  { label: 'mul, a scalar', run: (x, y) => tf.mul(y, x), x: [3, 5000], y: [] },
  { label: 'mul, both broadcast', run: (x, y) => tf.mul(x, y), x: [6, 1, 2000], y: [1, 5, 2000] },
  { label: 'mul, middle axis broadcast', run: (x, y) => tf.mul(x, y), x: [8, 33, 40], y: [8, 1, 40] },
  { label: 'div', run: (x, y) => tf.div(x, tf.add(tf.abs(y), 0.5)), x: [2, 3, 4000], y: [3, 1] },
  { label: 'add, small (stock kernel)', run: (x, y) => tf.add(x, y), x: [7, 9], y: [9] },
  { label: 'exp', run: (x) => tf.exp(x), x: [3, 37] },
  { label: 'exp, large', run: (x) => tf.exp(tf.mul(x, 20)), x: [70000] },
  { label: 'erf', run: (x) => tf.erf(tf.mul(x, 3)), x: [5, 17, 3], tol: 6e-7 },
  { label: 'sqrt', run: (x) => tf.sqrt(tf.abs(x)), x: [41] },
  { label: 'rsqrt', run: (x) => tf.rsqrt(tf.add(tf.abs(x), 0.1)), x: [2, 33] },
  { label: 'sum, last axis', run: (x) => tf.sum(x, -1), x: [7, 33] },
  { label: 'sum, leading axes (a bias gradient)', run: (x) => tf.sum(x, [0, 1]), x: [3, 50, 70], tol: 2e-5 },
  { label: 'sum, middle axis, kept', run: (x) => tf.sum(x, 1, true), x: [3, 50, 7] },
  { label: 'sum, axes around one of size 1', run: (x) => tf.sum(x, [1, 3]), x: [2, 5, 1, 6, 3] },
  // Both sides sum in float32 in different orders: the error grows with the terms.
  { label: 'sum, everything', run: (x) => tf.sum(x), x: [300000], tol: 1e-4 },
  { label: 'sum, axes apart (stock kernel)', run: (x) => tf.sum(x, [0, 2]), x: [3, 4, 5] },
  { label: 'mean', run: (x) => tf.mean(x, -1, true), x: [9, 100] },
  { label: 'mean, leading', run: (x) => tf.mean(x, 0), x: [40, 19], tol: 1e-5 },
  { label: 'max', run: (x) => tf.max(x, -1), x: [6, 35] },
  { label: 'max, everything', run: (x) => tf.max(x), x: [270000] },
  { label: 'min, leading', run: (x) => tf.min(x, [0, 1]), x: [4, 9, 13] },
  { label: 'softmax', run: (x) => tf.softmax(tf.mul(x, 10)), x: [2, 3, 197] },
  { label: 'slice', run: (x) => tf.slice(x, [1, 2, 3], [2, -1, 5]), x: [4, 6, 9] },
  { label: 'slice, int32', run: (x) => tf.slice(tf.cast(tf.mul(x, 100), 'int32'), [0, 1], [3, 2]), x: [5, 4] },
  { label: 'split (SplitV)', run: (x) => tf.split(x, [2, 5, 1], 1), x: [3, 8, 4] },
  { label: 'split, last axis, equal', run: (x) => tf.split(x, 3, 2), x: [2, 197, 48] },
  { label: 'concat, last axis', run: (x, y) => tf.concat([x, y, x], 2), x: [3, 5, 7], y: [3, 5, 2] },
  { label: 'concat, middle axis', run: (x, y) => tf.concat([y, x], 1), x: [2, 9, 4], y: [2, 1, 4] },
  {
    label: 'concat, first axis, int32',
    run: (x, y) => tf.concat([tf.cast(tf.mul(x, 9), 'int32'), tf.cast(tf.mul(y, 9), 'int32')], 0),
    x: [2, 3],
    y: [4, 3],
  },
  { label: 'transpose, heads', run: (x) => tf.transpose(x, [0, 2, 1, 3]), x: [2, 197, 3, 64] },
  { label: 'transpose, last two axes', run: (x) => tf.transpose(x, [0, 2, 1]), x: [3, 37, 29] },
  { label: 'transpose, int32', run: (x) => tf.transpose(tf.cast(tf.mul(x, 50), 'int32'), [1, 0]), x: [7, 5] },
  { label: 'tile', run: (x) => tf.tile(x, [3, 1, 2]), x: [1, 5, 7] },
  { label: 'tile, rank 4, every axis', run: (x) => tf.tile(x, [2, 3, 1, 2]), x: [2, 1, 3, 5] },
  { label: 'gelu (fused)', run: (x) => gelu(tf.mul(x, 4)), x: [3, 77], tol: 6e-7 },
  {
    label: 'gelu gradient (fused)',
    run: (x, y) => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(gelu(v), y)))(tf.mul(x, 4)),
    x: [3, 77],
    y: [3, 77],
    tol: 6e-7,
  },
  { label: 'layer norm (fused)', run: (x, y) => layerNorm(tf.mul(x, 3), y, tf.mul(y, 0.5), 1e-6), x: [2, 21, 77], y: [77], tol: 1e-5 },
  {
    label: 'layer norm gradients (fused)',
    run: (x, y) => {
      const w = tf.add(y, 1);
      const dy = tf.reshape(tf.sin(tf.mul(tf.range(0, 2 * 21 * 77), 0.37)), [2, 21, 77]);
      const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(layerNorm(a, b, c, 1e-5), dy));
      return tf.grads(f)([tf.mul(x, 3), w, tf.mul(y, 0.5)]);
    },
    x: [2, 21, 77],
    y: [77],
    tol: 2e-5,
  },
];

/** Uniform values in [-1, 1), the same on every backend (drawn from a seed). */
function input(shape: number[], seed: number): tf.Tensor {
  return tf.randomUniform(shape, -1, 1, 'float32', seed);
}

function values(out: tf.Tensor | tf.Tensor[]): Float32Array[] {
  return (Array.isArray(out) ? out : [out]).map((t) => Float32Array.from(t.dataSync() as ArrayLike<number>));
}

async function reference(): Promise<Float32Array[][]> {
  await tf.setBackend('cpu');
  return CASES.map((c, i) => tf.tidy(() => values(c.run(input(c.x, 3 * i), input(c.y ?? [1], 3 * i + 1)))));
}

function expectClose(got: Float32Array[], want: Float32Array[], tol: number, label: string): void {
  expect(got.length, label).toBe(want.length);
  got.forEach((g, k) => {
    const w = want[k]!;
    expect(g.length, label).toBe(w.length);
    for (let i = 0; i < w.length; i++) {
      const err = Math.abs(g[i]! - w[i]!);
      if (!(err <= tol * Math.max(1, Math.abs(w[i]!))))
        throw new Error(`${label}: output ${k}, element ${i} is ${g[i]}, expected ${w[i]} (tolerance ${tol})`);
    }
  });
}

const addon = loadNative().addon;
const isas = addon?.info().isas ?? [];

describe.runIf(addon)('native element-wise kernels on WASM', () => {
  afterAll(async () => {
    disableFastKernels('wasm');
    await tf.setBackend('cpu');
  });

  it.each(isas)('equal the stock CPU kernels (%s), leaving no tensor behind', async (isa) => {
    const want = await reference();
    await tf.setBackend('wasm');
    const report = enableFastKernels('wasm', { isa });
    expect(report.elementwiseIsa).toBe(isa);
    const before = tf.memory().numTensors;
    CASES.forEach((c, i) => {
      const got = tf.tidy(() => values(c.run(input(c.x, 3 * i), input(c.y ?? [1], 3 * i + 1))));
      expectClose(got, want[i]!, c.tol ?? 2e-6, `${isa}: ${c.label}`);
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each(isas)('exp and erf keep their special values (%s)', async (isa) => {
    await tf.setBackend('wasm');
    enableFastKernels('wasm', { isa });
    const x = [
      0,
      -0,
      1,
      -1,
      88,
      88.7,
      89,
      1000,
      -87,
      -88,
      -100,
      -104,
      -1000,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    ];
    const exp = tf.tidy(() => Array.from(tf.exp(tf.tensor1d(x)).dataSync()));
    x.forEach((v, i) => {
      const want = Math.fround(Math.exp(Math.fround(v)));
      if (Number.isNaN(want)) expect(exp[i], `exp(${v})`).toBeNaN();
      else if (!Number.isFinite(want) || want === 0) expect(exp[i], `exp(${v})`).toBe(want);
      else if (want < 1.2e-38)
        expect(Math.abs(exp[i]! - want), `exp(${v})`).toBeLessThan(1e-44); // subnormal
      else expect(Math.abs(exp[i]! - want) / want, `exp(${v})`).toBeLessThan(3e-7);
    });
    const erf = tf.tidy(() => Array.from(tf.erf(tf.tensor1d([0, 0.5, -0.5, 3, -3, 10, Number.NaN])).dataSync()));
    expect(erf.slice(0, 6).map((v) => Math.round(v * 1e6) / 1e6)).toEqual([0, 0.5205, -0.5205, 0.999978, -0.999978, 1]);
    expect(erf[6]).toBeNaN();
  });

  it('the attention kernels: scaled softmax and its backward, against the composed ops', async () => {
    await tf.setBackend('wasm');
    enableFastKernels('wasm');
    tf.tidy(() => {
      const x = input([2, 3, 5, 67], 7);
      const dp = input([2, 3, 5, 67], 8);
      const p = runFusedKernel(FusedKernel.scaledSoftmax, { x }, { scale: 0.125 });
      expectClose(values(p), values(tf.softmax(tf.mul(x, 0.125))), 2e-6, 'scaled softmax');
      const ds = runFusedKernel(FusedKernel.softmaxGrad, { p, dp }, { scale: 0.125 });
      const want = tf.mul(tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), -1, true))), 0.125);
      expectClose(values(ds), values(want), 2e-6, 'softmax backward');
      expect(() => runFusedKernel(FusedKernel.scaledSoftmax, { x }, { scale: -1 })).toThrow(
        /FptScaledSoftmax on wasm takes float32 tensors .*; got x: float32 \[2,3,5,67\]/,
      );
    });
  });

  it('AdamW in one pass takes the same steps as composed from tfjs ops, with and without a gradient scale', async () => {
    const run = (fused: boolean, gradScale?: number) => {
      if (fused) enableFastKernels('wasm');
      else disableFastKernels('wasm');
      const init = input([70, 300], 11);
      const w = tf.variable(init);
      init.dispose();
      const opt = new AdamW([w], { lr: 1e-2, weightDecay: 0.05 });
      for (let step = 0; step < 3; step++) {
        const g = tf.tidy(() => tf.add(input([70, 300], 12 + step), tf.mul(w, 0.1)));
        opt.step(new Map([[w, g]]), { gradScale });
        g.dispose();
      }
      const out = Float32Array.from(w.dataSync());
      opt.dispose();
      w.dispose();
      return out;
    };
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    const composed = run(false);
    const fused = run(true);
    // Clipping's scale is applied inside the one pass: the same as scaling first.
    const scaledComposed = run(false, 0.37);
    const scaledFused = run(true, 0.37);
    expect(tf.memory().numTensors).toBe(before);
    expectClose([fused], [composed], 1e-6, 'AdamW');
    expectClose([scaledFused], [scaledComposed], 1e-6, 'AdamW with gradScale');
    // and the scale matters (the steps differ from unscaled ones)
    expect(scaledFused.some((x, i) => Math.abs(x - fused[i]!) > 1e-5)).toBe(true);
  });

  // Shapes that take each path of the SGEMM: the unpacked small kernel, the dot-product one, the
  // packed one on one thread (depth over 512), the packed one over every thread with two or three
  // depth blocks (the epilogue must run after the last only) and edge tiles, and an empty depth
  // (y = act(bias)).
  const LINEAR_SHAPES: Array<[m: number, k: number, n: number]> = [
    [20, 30, 17],
    [5, 70, 11], // the dot-product kernel (few rows, a long depth)
    [16, 300, 900], // unpacked over the threads: by column strips (the dot kernel), by row tiles
    [700, 300, 12],
    [1, 600, 100],
    [300, 600, 130],
    [5, 0, 9],
  ];

  it.each(isas)('the fused linear layer equals the separate product, bias addition and GELU bit for bit (%s)', async (isa) => {
    await tf.setBackend('wasm');
    enableFastKernels('wasm', { isa });
    const before = tf.memory().numTensors;
    LINEAR_SHAPES.forEach(([m, k, n], i) =>
      tf.tidy(() => {
        const x = input([m, k], 40 + i);
        const weight = input([n, k], 50 + i);
        const bias = tf.mul(input([n], 60 + i), 2);
        const product = tf.add(tf.matMul(x, weight, false, true), bias);
        for (const activation of ['linear', 'gelu'] as const) {
          const fused = runFusedKernel(FusedKernel.linear, { x, weight, bias }, { activation });
          const want = activation === 'gelu' ? gelu(product) : product;
          expect(fused.shape).toEqual([m, n]);
          expect(values(fused), `${isa} ${activation} [${m}, ${k}] x [${n}, ${k}]^T`).toEqual(values(want));
        }
        // core's ops take it (3-D inputs are flattened) outside a gradient computation
        const x3 = tf.reshape(x, [1, m, k]);
        expect(values(linearGelu(x3, weight, bias))).toEqual(values(tf.reshape(gelu(product), [1, m, n])));
        expect(values(linear(x3, weight, bias))).toEqual(values(tf.reshape(product, [1, m, n])));
      }),
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it('linear and linearGelu under a gradient tape: the fused bias gives the gradients of tf.matMul and tf.add', async () => {
    await tf.setBackend('wasm');
    const x = input([3, 50, 70], 70);
    // A trainable weight: under a tape only those take the fused kernel (a frozen one's gradient is not wanted).
    const w0 = input([90, 70], 71);
    const weight = tf.variable(w0);
    const bias = input([90], 72);
    const dy = input([3, 50, 90], 73);
    const grads = (f: (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor) =>
      tf.tidy(() => values(tf.grads((a, w, b) => tf.sum(tf.mul(f(a, w, b), dy)))([x, weight, bias])));
    disableFastKernels('wasm');
    const stock = [grads(linear), grads(linearGelu)];
    enableFastKernels('wasm');
    const before = tf.memory().numTensors;
    const fused = [grads(linear), grads(linearGelu)];
    expect(tf.memory().numTensors).toBe(before);
    // The same products on both sides; the stock WASM kernels sum the bias gradient in another order.
    expectClose(fused[0]!, stock[0]!, 2e-5, 'linear');
    expectClose(fused[1]!, stock[1]!, 2e-5, 'linearGelu');
    tf.dispose([x, w0, weight, bias, dy]);
  });

  it('the fused linear kernel refuses mismatched shapes with the inputs named', async () => {
    await tf.setBackend('wasm');
    enableFastKernels('wasm');
    tf.tidy(() => {
      const x = input([4, 6], 80);
      expect(() =>
        runFusedKernel(FusedKernel.linear, { x, weight: input([5, 7], 81), bias: input([5], 82) }, { activation: 'linear' }),
      ).toThrow(
        /FptLinear on wasm takes float32 tensors of matching shapes.*x: float32 \[4,6\], weight: float32 \[5,7\], bias: float32 \[5\]/,
      );
      expect(() =>
        runFusedKernel(FusedKernel.linear, { x, weight: input([5, 6], 81), bias: input([5], 82) }, { activation: 'relu' }),
      ).toThrow(/FptLinear on wasm/);
    });
  });

  it('the addon refuses bad arguments with a sentence naming the function and the argument', () => {
    const a = addon!;
    const x = new Float32Array(10);
    expect(() => a.unary('tanh' as 'exp', x, 0, x, 0, 10)).toThrow('unary: op must be exp, erf, sqrt, rsqrt or gelu');
    expect(() => a.unary('exp', x, 4, x, 0, 10)).toThrow('unary: x has 10 elements, fewer than offset 4 + 10');
    expect(() => a.reduce('sum', x, 0, x, 0, 2, 0, 5)).toThrow('reduce: r must be positive');
    expect(() => a.softmax(x, 0, x, 0, 2, 5, 0)).toThrow('softmax: scale must be a positive number');
    expect(() => a.stridedCopy(x, 0, x, 0, Float64Array.from([3, 4]), Float64Array.from([4, 1]))).toThrow(
      'stridedCopy: x has 10 elements, fewer than offset 0 + 12',
    );
    expect(() => a.binary('mul', x, 0, Float64Array.from([1]), x, 0, Float64Array.from([0, 1]), x, 0, Float64Array.from([10]))).toThrow(
      /binary: shape and both strides must be Float64Arrays of one length/,
    );
    expect(() => a.adamw(x, 0, x, 0, x, 0, x, 0, x, 0, x, 0, x, 0, 10, new Float64Array(7))).toThrow(
      'adamw: constants must be a Float64Array of 9',
    );
  });

  it('disabling removes the fused kernels and restores the stock ones', async () => {
    await tf.setBackend('wasm');
    enableFastKernels('wasm');
    expect(tf.getKernel(FusedKernel.gelu, 'wasm')).toBeDefined();
    disableFastKernels('wasm');
    expect(tf.getKernel(FusedKernel.gelu, 'wasm')).toBeUndefined();
    // gelu still runs, composed from tfjs's own kernels.
    const y = tf.tidy(() => Array.from(gelu(tf.tensor1d([-1, 0, 2])).dataSync()));
    expect(y.map((v) => Math.round(v * 1e5) / 1e5)).toEqual([-0.15866, 0, 1.9545]);
    // And enabling with the fallback leaves none of the native kernels behind.
    enableFastKernels('wasm', { native: false });
    expect(tf.getKernel(FusedKernel.gelu, 'wasm')).toBeUndefined();
    disableFastKernels('wasm');
  });
});
