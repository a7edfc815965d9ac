import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { afterAll, describe, expect, it } from 'vitest';
import { describeKernels, disableFastKernels, enableFastKernels, loadNative, planMatMul } from '../src/index';

// Shapes [a, b, transposeA, transposeB] covering plain, transposed, batched and broadcast
// products, odd sizes that leave partial register tiles, and depths past one cache block.
const CASES: [number[], number[], boolean, boolean][] = [
  [[7, 5], [5, 3], false, false],
  [[5, 7], [5, 3], true, false],
  [[7, 5], [3, 5], false, true],
  [[5, 7], [3, 5], true, true],
  [[2, 3, 13, 37], [2, 3, 37, 17], false, false],
  [[2, 3, 37, 13], [2, 3, 17, 37], true, true],
  [[4, 19, 64], [4, 19, 64], false, true],
  [[4, 19, 19], [4, 19, 64], false, false],
  [[3, 5, 9, 11], [1, 1, 11, 6], false, false], // b's batch dimensions broadcast
  [[1, 11, 9], [4, 11, 6], true, false], // a's batch dimension broadcast
  [[6, 9, 11], [11, 6], false, false], // rank 3 by rank 2
  [[9, 11], [2, 6, 11], false, true],
  [[130, 300], [300, 70], false, false], // K past one 256-deep block (the generic kernel's)
  [[300, 130], [70, 300], true, true],
  [[1, 1], [1, 1], false, false],
  [[3, 0], [0, 4], false, false], // empty inner dimension: zeros
  // Edge tiles of the AVX-512 kernel (14 x 32): rows 13/15/29 and columns 31/33/47/65 leave partial
  // tiles and masked columns on both halves of the 32; depths 257 and 513 end blocks one deep.
  [[13, 257], [257, 31], false, false],
  [[257, 15], [33, 257], true, true],
  [[29, 40], [47, 40], false, true],
  [[40, 28], [40, 65], true, false],
  [[2, 15, 513], [2, 513, 17], false, false],
  [[13, 385], [385, 31], false, false], // AVX-512's 384-deep blocks: one past one block, one past two
  [[2, 15, 769], [2, 17, 769], false, true],
  [[40, 1100], [70, 1100], false, true], // AVX2's 512-deep blocks: three of 367
  [[3, 30, 70], [3, 70, 1], false, false], // one column: mask of width 1
  [[500, 64], [64, 500], false, false], // spread over the threads, several row blocks
  [[64, 500], [100, 64], true, true],
  // Small products take the unpacked kernel on AVX2 (operands within 64 KiB): a side network's
  // attention (81 tokens, 8 per head) in all four layouts, and row edges of 1-5 and column edges
  // of 1-15 on both 8-lane halves.
  [[2, 12, 81, 81], [2, 12, 81, 8], false, false],
  [[2, 3, 81, 81], [2, 3, 81, 9], true, false],
  [[2, 3, 81, 8], [2, 3, 81, 8], false, true],
  [[2, 3, 8, 81], [2, 3, 81, 8], true, true],
  [[16, 33], [33, 5], false, false],
  // A * B^T with few rows and a long depth takes the dot-product kernel on AVX2 (FPT+'s prompts
  // against cached keys: 16 x 64 by 205 x 64), with edge tiles of 1-3 rows and 1-2 columns and a
  // depth that ends in a masked part of a vector.
  [[2, 16, 64], [2, 205, 64], false, true],
  [[3, 7, 70], [3, 13, 70], false, true],
  [[1, 64], [2, 64], false, true],
  // Larger products with at most 16 rows or columns run unpacked over the threads: by column strips
  // (op(B) in place, in a transposed copy, or the dot kernel), by row tiles, and one per thread.
  [[16, 300], [300, 500], false, false],
  [[13, 40], [4001, 40], false, true],
  [[10, 100], [3000, 100], false, true],
  [[1000, 300], [300, 10], false, false],
  [[300, 1000], [7, 300], true, true],
  [[4, 300, 16], [4, 300, 100], true, false],
  // Both operands' rows contiguous, at most 64 columns: unpacked too (attention's P V), one product
  // per thread and one over every thread.
  [[2, 197, 197], [2, 197, 64], false, false],
  [[600, 300], [300, 61], false, false],
  [[11, 20], [20, 23], false, false],
  [[2, 40], [24, 40], false, true],
  [[9, 4], [4, 15], false, false],
];

function randomPair(aShape: number[], bShape: number[], seed: number): [tf.Tensor, tf.Tensor] {
  return [tf.randomUniform(aShape, -1, 1, 'float32', seed), tf.randomUniform(bShape, -1, 1, 'float32', seed + 1)];
}

/** Reference products on the stock CPU backend, as plain arrays. */
async function referenceProducts(): Promise<Float32Array[]> {
  await tf.setBackend('cpu');
  disableFastKernels('cpu');
  return CASES.map(([as, bs, ta, tb], i) =>
    tf.tidy(() => {
      const [a, b] = randomPair(as, bs, 10 * i);
      return tf.matMul(a, b, ta, tb).dataSync() as Float32Array;
    }),
  );
}

function expectClose(actual: Float32Array, expected: Float32Array | undefined, label: string): void {
  if (!expected) throw new Error(`${label}: no reference values to compare with`);
  expect(actual.length, label).toBe(expected.length);
  let scale = 1e-6;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  expected.forEach((want, i) => {
    const got = actual[i]!; // same length, checked above
    const err = Math.abs(got - want);
    if (err > 1e-5 * scale + 1e-6)
      throw new Error(`${label}: element ${i} is ${got}, expected ${want} (relative to the largest ${err / scale})`);
  });
}

async function checkBackend(backend: 'cpu' | 'wasm', native: boolean, expected: Float32Array[], isa?: string): Promise<void> {
  await tf.setBackend(backend);
  const report = enableFastKernels(backend, { native, isa });
  try {
    expect(report.choice).toBe(native ? 'native' : backend === 'wasm' ? 'wasm-slices' : 'stock');
    if (isa) expect(report.isa).toBe(isa);
    const before = tf.memory().numTensors;
    CASES.forEach(([as, bs, ta, tb], i) => {
      // Random data are drawn on the CPU backend so both sides see the same numbers.
      const result = tf.tidy(() => {
        const [a, b] = randomPair(as, bs, 10 * i);
        return tf.matMul(a, b, ta, tb).dataSync() as Float32Array;
      });
      expectClose(result, expected[i], `${backend}/${report.choice} [${as}]x[${bs}] tA=${ta} tB=${tb}`);
    });
    expect(tf.memory().numTensors).toBe(before);
  } finally {
    disableFastKernels(backend);
  }
}

const hasNative = loadNative().addon !== undefined;
/** Every micro-kernel this CPU runs (AVX-512, AVX2 and the portable one on an AVX-512 machine). */
const isas = loadNative().addon?.info().isas ?? [];

describe('BatchMatMul kernels', () => {
  afterAll(async () => {
    disableFastKernels('cpu');
    disableFastKernels('wasm');
    await tf.setBackend('cpu');
  });

  it('plans broadcast batches and names mismatched shapes', () => {
    const p = planMatMul([3, 1, 9, 11], [1, 5, 11, 6], false, false);
    expect(p.outShape).toEqual([3, 5, 9, 6]);
    expect(Array.from(p.aIndex)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    expect(Array.from(p.bIndex)).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    expect(() => planMatMul([2, 3], [4, 5], false, false)).toThrow(/inner dimensions 3 and 4 of shapes \[2,3\] and \[4,5\]/);
    expect(() => planMatMul([2, 3, 3], [4, 3, 3], false, false)).toThrow(/cannot be broadcast/);
  });

  it('the native addon is built on this machine (a C++ compiler is present), unless FPT_KERNELS turns it off', () => {
    // CI machines have g++; where none exists this documents why the fallback is in use.
    const load = loadNative();
    const env = process.env.FPT_KERNELS;
    if (env && env !== 'native' && env !== 'auto') {
      expect(load.addon ? 'loaded' : load.reason).toBe(`disabled by FPT_KERNELS=${env}`);
      return;
    }
    expect(load.addon ? 'loaded' : load.reason).toBe('loaded');
    const info = load.addon!.info();
    expect(['avx512', 'avx2-fma', 'generic']).toContain(info.isa);
    expect(info.isas.at(-1)).toBe('generic');
  });

  it.each(isas)('native SGEMM (%s) on the CPU backend equals the stock CPU kernel', async (isa) => {
    const expected = await referenceProducts();
    await checkBackend('cpu', true, expected, isa);
  });

  it.each(isas)('native SGEMM (%s) on the WASM backend equals the stock CPU kernel', async (isa) => {
    const expected = await referenceProducts();
    await checkBackend('wasm', true, expected, isa);
  });

  it.runIf(hasNative)(
    'the widest micro-kernel is the default; FPT_KERNELS_ISA and the isa option force another, an unknown one is named',
    async () => {
      await tf.setBackend('cpu');
      const saved = process.env.FPT_KERNELS_ISA;
      try {
        delete process.env.FPT_KERNELS_ISA;
        expect(enableFastKernels('cpu', { isa: 'generic' }).isa).toBe('generic');
        expect(enableFastKernels('cpu').isa).toBe(isas[0]);
        process.env.FPT_KERNELS_ISA = 'generic';
        expect(enableFastKernels('cpu').isa).toBe('generic');
        expect(describeKernels(enableFastKernels('cpu'))).toBe(
          `native SGEMM (generic, ${loadNative().addon!.info().threads} threads) on cpu`,
        );
        process.env.FPT_KERNELS_ISA = 'sse9';
        expect(() => enableFastKernels('cpu')).toThrow(/FPT_KERNELS_ISA asks for "sse9": .*no "sse9" micro-kernel; supported: .*generic/);
        expect(() => enableFastKernels('cpu', { isa: 'sse9' })).toThrow(/the isa option asks for "sse9"/);
      } finally {
        if (saved === undefined) delete process.env.FPT_KERNELS_ISA;
        else process.env.FPT_KERNELS_ISA = saved;
        enableFastKernels('cpu');
        disableFastKernels('cpu');
      }
    },
  );

  it.runIf(hasNative)('the FMA peak is positive and measured in the widest instruction set', () => {
    const addon = loadNative().addon!;
    const p = addon.peak(0.01, 2);
    expect(p.isa).toBe(isas[0]);
    expect(p.threads).toBe(addon.info().threads);
    expect(p.gflops).toBeGreaterThan(0.1);
    expect(() => addon.peak(0, 1)).toThrow(/peak expects/);
  });

  it('the portable per-slice WASM kernel (native forced off) equals the stock CPU kernel', async () => {
    const expected = await referenceProducts();
    await checkBackend('wasm', false, expected);
  });

  it('broadcasts batch dimensions on both sides (which the stock kernels do not)', async () => {
    // Reference: the stock CPU kernel on explicitly tiled operands.
    await tf.setBackend('cpu');
    disableFastKernels('cpu');
    const [a, b] = randomPair([3, 1, 9, 11], [1, 5, 11, 6], 7);
    const expected = tf.tidy(() => tf.matMul(tf.tile(a, [1, 5, 1, 1]), tf.tile(b, [3, 1, 1, 1])).dataSync() as Float32Array);
    for (const backend of ['cpu', 'wasm'] as const) {
      for (const native of hasNative ? [true, false] : [false]) {
        if (!native && backend === 'cpu') continue;
        await tf.setBackend(backend);
        enableFastKernels(backend, { native });
        try {
          const c = tf.matMul(a, b);
          expect(c.shape).toEqual([3, 5, 9, 6]);
          expectClose(c.dataSync() as Float32Array, expected, `${backend} native=${native} two-sided broadcast`);
          c.dispose();
        } finally {
          disableFastKernels(backend);
        }
      }
    }
    tf.dispose([a, b]);
  });

  it('gradients through the fast kernel equal the stock CPU gradients', async () => {
    const grads = () =>
      tf.tidy(() => {
        const [a, b] = randomPair([2, 3, 21, 17], [2, 3, 33, 17], 99);
        const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, y, false, true))))([a, b]);
        return g.map((t) => t.dataSync() as Float32Array);
      });
    await tf.setBackend('cpu');
    disableFastKernels('cpu');
    const expected = grads();
    for (const backend of ['wasm', 'cpu'] as const) {
      for (const native of hasNative ? [true, false] : [false]) {
        if (!native && backend === 'cpu') continue;
        await tf.setBackend(backend);
        enableFastKernels(backend, { native });
        try {
          grads().forEach((g, i) => expectClose(g, expected[i], `${backend} native=${native} gradient ${i}`));
        } finally {
          disableFastKernels(backend);
        }
      }
    }
  });

  it('non-float32 products fall through to the stock kernel', async () => {
    await tf.setBackend('cpu');
    enableFastKernels('cpu');
    try {
      const c = tf.matMul(tf.tensor2d([[1, 2]], [1, 2], 'int32'), tf.tensor2d([[3], [4]], [2, 1], 'int32'));
      expect(c.dtype).toBe('int32');
      expect(Array.from(c.dataSync())).toEqual([11]);
      c.dispose();
    } finally {
      disableFastKernels('cpu');
    }
  });
});

describe('GatherV2 on WASM', () => {
  it('gathers like the CPU backend, with batch dimensions (the stock WASM kernel reads out of bounds) and without', async () => {
    const make = () => {
      const x = tf.randomNormal([2, 3, 7, 4], 0, 1, 'float32', 3);
      const indices = tf.tensor3d(
        [
          [
            [6, 0],
            [1, 1],
            [2, 5],
          ],
          [
            [0, 3],
            [4, 4],
            [6, 2],
          ],
        ],
        [2, 3, 2],
        'int32',
      );
      return { x, indices };
    };
    await tf.setBackend('cpu');
    const expected = tf.tidy(() => {
      const { x, indices } = make();
      return tf.gather(x, indices, 2, 2).dataSync() as Float32Array;
    });
    await tf.setBackend('wasm');
    enableFastKernels('wasm');
    try {
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const { x, indices } = make();
        const g = tf.gather(x, indices, 2, 2);
        expect(g.shape).toEqual([2, 3, 2, 4]);
        expectClose(g.dataSync() as Float32Array, expected, 'gather batchDims=2');
        // Without batch dimensions: elements, rows (token selection's flat gather), an inner axis, int32.
        expect(Array.from(tf.gather(tf.tensor1d([5, 6, 7]), tf.tensor1d([2, 0], 'int32')).dataSync())).toEqual([7, 5]);
        const rows = tf.reshape(tf.range(0, 40 * 64), [40, 64]);
        const picked = tf.gather(rows, tf.tensor1d([39, 0, 7, 7], 'int32'), 0);
        expect(picked.shape).toEqual([4, 64]);
        const v = picked.dataSync();
        expect([v[0], v[63], v[64], v[128], v[255]]).toEqual([39 * 64, 39 * 64 + 63, 0, 7 * 64, 7 * 64 + 63]);
        const inner = tf.gather(tf.reshape(tf.range(0, 24, 1, 'int32'), [2, 3, 4]), tf.tensor2d([[3, 0]], [1, 2], 'int32'), 2);
        expect(inner.shape).toEqual([2, 3, 1, 2]);
        expect(inner.dtype).toBe('int32');
        expect(Array.from(inner.dataSync())).toEqual([3, 0, 7, 4, 11, 8, 15, 12, 19, 16, 23, 20]);
        expect(() => tf.gather(tf.tensor1d([5, 6, 7]), tf.tensor1d([3], 'int32'))).toThrow(/index 3 is outside \[0, 3\) on axis 0/);
      });
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      disableFastKernels('wasm');
      await tf.setBackend('cpu');
    }
  });
});
