// WebGPU with tensors past the storage-binding limit: the device gets the adapter's own limits, and
// with the limit lowered to a few KiB (setBindingLimit, as FPT_WEBGPU_BINDING_LIMIT does) attention
// and a ViT block are computed in slices with the numbers of the unsplit CPU computation, gradients
// included, and leak nothing; what cannot be split is refused with one sentence. Shapes are tiny:
// SwiftShader compiles each new shader in about a second, and exactness does not depend on size.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import {
  attention,
  BINDING_LIMIT_ENV,
  bindingLimit,
  describeAdapter,
  selectBackend,
  setBindingLimit,
  variableGradsFreeing,
} from '@fpt/core';
import { adapt, blockForward, createVit, trainingContext, vitConfig } from '@fpt/backbone-vit';
import { lora } from '@fpt/baselines';
import { fptPart, fptPlus } from '@fpt/fpt-plus';
import { probeWebGpu, requireAdapterInCi } from './helpers/webgpu';

const probe = await probeWebGpu();

/** Values of a tensor and of the gradients of sum(out * w) for the inputs, read back. */
type Result = { out: Float32Array; grads: Float32Array[] };

/** Deterministic inputs: the same values on every backend. */
function input(shape: number[], phase: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.61 + phase)),
    shape,
  );
}

/** Attention's output and the gradients of q, k and v under a fixed upstream weighting. */
async function attentionWithGrads(shapes: { q: number[]; kv: number[] }): Promise<Result> {
  const [q, k, v] = [input(shapes.q, 0.1), input(shapes.kv, 0.7), input(shapes.kv, 1.3)];
  const w = input([...shapes.q.slice(0, -1), shapes.kv.at(-1)!], 2.1);
  const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(attention(a, b, c, { probs: false }).out, w));
  const out = attention(q, k, v, { probs: false }).out;
  const grads = tf.grads(f)([q, k, v]);
  const result = {
    out: (await out.data()) as Float32Array,
    grads: await Promise.all(grads.map(async (g) => (await g.data()) as Float32Array)),
  };
  tf.dispose([q, k, v, w, out, ...grads]);
  return result;
}

/**
 * A LoRA model (dropout 0.5 on qkv, fc1 and fc2: per-sample masks) on a tiny ViT (width 32, MLP 64,
 * 2 blocks, 8 px, patch 4: 5 tokens), batch 4: its loss, logits and gradients. Per sample, q, k and
 * v together are [1, 5, 96]: 1,920 bytes.
 * @param limit - the binding limit to compute with
 */
async function loraStep(limit?: number): Promise<Result> {
  const vit = createVit(vitConfig({ hiddenSize: 32, numLayers: 2, numHeads: 2, mlpDim: 64, patchSize: 4, imageSize: 8, numClasses: 0 }), {
    seed: 3,
  });
  const model = adapt(vit, [lora({ rank: 4, dropout: 0.5, targets: ['qkv', 'fc1', 'fc2'] })], { numClasses: 3, seed: 5 });
  for (const p of model.module.namedParameters())
    if (p.name.endsWith('lora_B')) tf.tidy(() => p.variable.assign(input(p.variable.shape, 0.3)));
  const pixels = input([4, 3, 8, 8], 0.9);
  const labels = tf.tensor1d([0, 1, 2, 1], 'int32');
  const ctx = trainingContext(1, 7);
  // Lowered once the weights exist: the patch embedding's kernel alone is 6,144 bytes.
  setBindingLimit(limit);
  const logits = model.forward({ pixels }, ctx);
  const { value, grads } = variableGradsFreeing(() => model.loss({ pixels }, labels, ctx), model.trainableVariables());
  const names = Object.keys(grads).sort();
  const result = {
    out: Float32Array.from([...((await logits.data()) as Float32Array), ...((await value.data()) as Float32Array)]),
    grads: await Promise.all(names.map(async (n) => (await grads[n]!.data()) as Float32Array)),
  };
  tf.dispose([pixels, labels, logits, value, ...Object.values(grads)]);
  model.dispose();
  vit.dispose();
  return result;
}

/**
 * FPT+'s LPM pass as inspected (selected keys, values, indices, scores; features, logits) on a
 * tiny LPM with many tokens for its size (16 px, patch 2: 65 tokens, 2 heads), batch 4: one image's
 * attention probabilities [1, 2, 65, 65] are 33,800 bytes.
 * @param limit - the binding limit to compute with
 */
async function lpmPass(limit?: number): Promise<Result> {
  const lpm = createVit(
    vitConfig({
      hiddenSize: 16,
      numLayers: 2,
      numHeads: 2,
      mlpDim: 32,
      patchSize: 2,
      imageSize: 16,
      numClasses: 3,
      posEmbedResample: 'hf',
    }),
    { seed: 4 },
  );
  const side = { hiddenSize: 8, numHeads: 2, mlpDim: 16, patchSize: 8, imageSize: 16 };
  const model = adapt(lpm, [fptPlus({ inputSize: 16, layers: [0, 1], prompts: 2, side })], { numClasses: 2 });
  const pixels = input([4, 3, 16, 16], 0.4);
  setBindingLimit(limit);
  const r = fptPart(model).inspectLpm(pixels);
  const parts = [r.keys, r.values, r.scores, r.features, r.logits!];
  const result = {
    out: Float32Array.from((await r.indices.data()) as Int32Array),
    grads: await Promise.all(parts.map(async (t) => (await t.data()) as Float32Array)),
  };
  tf.dispose([pixels, r.indices, ...parts]);
  model.dispose();
  lpm.dispose();
  return result;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!)); // equal lengths, checked above
  return m;
}

function expectSame(got: Result, want: Result, tol: number): void {
  expect(maxAbsDiff(got.out, want.out)).toBeLessThanOrEqual(tol);
  expect(got.grads.length).toBe(want.grads.length);
  got.grads.forEach((g, i) => expect(maxAbsDiff(g, want.grads[i]!)).toBeLessThanOrEqual(tol));
}

/** Counts the kernels of one kind that run while `fn` does. */
async function countKernels<T>(name: string, fn: () => Promise<T>): Promise<{ value: T; count: number }> {
  const profile = await tf.profile(fn as () => Promise<tf.TensorContainer>);
  return { value: profile.result as T, count: profile.kernels.filter((k) => k.name === name).length };
}

describe('WebGPU past the storage-binding limit', () => {
  requireAdapterInCi(probe);
  afterEach(() => setBindingLimit(undefined));
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  describe.skipIf(!probe.adapter)('on the adapter', () => {
    it("creates the device with the adapter's own maxBufferSize and maxStorageBufferBindingSize", async () => {
      await selectBackend('webgpu', (p) => import(p));
      const gpu = (globalThis as unknown as { navigator: { gpu: { requestAdapter(): Promise<{ limits: Record<string, number> }> } } })
        .navigator.gpu;
      const adapter = await gpu.requestAdapter();
      const device = (tf.backend() as unknown as { device: { limits: Record<string, number> } }).device.limits;
      console.log(
        `adapter limits: maxBufferSize ${adapter.limits.maxBufferSize}, maxStorageBufferBindingSize ${adapter.limits.maxStorageBufferBindingSize}`,
      );
      expect(device.maxBufferSize).toBe(adapter.limits.maxBufferSize);
      expect(device.maxStorageBufferBindingSize).toBe(adapter.limits.maxStorageBufferBindingSize);
      // WebGPU's defaults, which a device gets unless more is asked for: 256 MiB and 128 MiB.
      expect(device.maxStorageBufferBindingSize).toBeGreaterThan(2 ** 27);
      expect(bindingLimit()).toEqual({ bytes: device.maxStorageBufferBindingSize, name: 'maxStorageBufferBindingSize' });
    });

    it(`${BINDING_LIMIT_ENV} lowers the limit in force (setBindingLimit before it), never raises it`, async () => {
      await selectBackend('webgpu', (p) => import(p));
      const real = bindingLimit()!.bytes;
      process.env[BINDING_LIMIT_ENV] = '16KiB';
      try {
        expect(bindingLimit()).toEqual({ bytes: 16384, name: 'maxStorageBufferBindingSize (lowered by FPT_WEBGPU_BINDING_LIMIT)' });
        const sel = await selectBackend('webgpu', (p) => import(p));
        expect(describeAdapter(sel.adapter!)).toMatch(
          /, ops split at 16384 bytes \(maxStorageBufferBindingSize \(lowered by FPT_WEBGPU_BINDING_LIMIT\)\)$/,
        );
        setBindingLimit(4000);
        expect(bindingLimit()).toEqual({ bytes: 4000, name: 'maxStorageBufferBindingSize (lowered by setBindingLimit)' });
        setBindingLimit(undefined);
        process.env[BINDING_LIMIT_ENV] = String(2 * real);
        expect(bindingLimit()).toEqual({ bytes: real, name: 'maxStorageBufferBindingSize' });
      } finally {
        delete process.env[BINDING_LIMIT_ENV];
      }
    });

    it.each([
      // Scores [2, 3, 40, 40] are 37.5 KiB; 16,000 bytes hold two (sample, head) pairs: three slices.
      { split: 'by (sample, head)', q: [2, 3, 40, 8], kv: [2, 3, 40, 8], limit: 16_000, slices: 3 },
      // One pair's scores [64, 48] are 12 KiB; 8,192 bytes hold 42 query rows: two slices per pair.
      { split: 'by query rows', q: [1, 2, 64, 4], kv: [1, 2, 48, 4], limit: 8_192, slices: 4 },
    ])('attention split $split: the CPU numbers, gradients included, nothing leaked', async ({ q, kv, limit, slices }) => {
      await selectBackend('cpu', (p) => import(p));
      const want = await attentionWithGrads({ q, kv });
      await selectBackend('webgpu', (p) => import(p));
      const whole = await countKernels('Softmax', () => attentionWithGrads({ q, kv }));
      expect(whole.count).toBe(2); // one op and one tf.grads forward
      expectSame(whole.value, want, 1e-5);
      setBindingLimit(limit);
      const before = tf.memory().numTensors;
      const split = await countKernels('Softmax', () => attentionWithGrads({ q, kv }));
      expect(tf.memory().numTensors).toBe(before);
      expect(split.count).toBe(2 * slices);
      expectSame(split.value, want, 1e-5);
    });

    it('a ViT block split by samples: the CPU loss and gradients, per-sample dropout masks included, nothing leaked', async () => {
      await selectBackend('cpu', (p) => import(p));
      const want = await loraStep();
      // (Unsplit on WebGPU, LoRA is compared with WASM by webgpu.test.ts.)
      await selectBackend('webgpu', (p) => import(p));
      // 4,000 bytes hold two samples' q, k and v ([2, 5, 96]: 3,840 bytes): two slices per block.
      const before = tf.memory().numTensors;
      const split = await countKernels('Softmax', () => loraStep(4000));
      expect(tf.memory().numTensors).toBe(before);
      expect(split.count).toBe(2 * 2 * 2); // forward and loss, 2 blocks, 2 slices each
      expectSame(split.value, want, 1e-5);
    });

    it("FPT+'s LPM pass split by images: the CPU selection, keys, values and features, nothing leaked", async () => {
      await selectBackend('cpu', (p) => import(p));
      const want = await lpmPass();
      await selectBackend('webgpu', (p) => import(p));
      const before = tf.memory().numTensors;
      // 70,000 bytes hold two images' probabilities: two slices, each block's attention whole within them.
      const split = await countKernels('Softmax', () => lpmPass(70_000));
      expect(tf.memory().numTensors).toBe(before);
      expect(split.count).toBe(2 * 2); // 2 slices, 2 blocks
      expect(Array.from(split.value.out)).toEqual(Array.from(want.out));
      expectSame(split.value, want, 1e-5);
    });

    it('refuses the probabilities as one tensor when they pass the limit, and any tensor past it, with one sentence', async () => {
      await selectBackend('webgpu', (p) => import(p));
      setBindingLimit(16_000);
      const before = tf.memory().numTensors;
      const [q, k] = [input([2, 3, 40, 8], 0), input([2, 3, 40, 8], 1)];
      expect(() => attention(q, k, k)).toThrow(
        "attention: the probabilities tensor [2,3,40,40] (pass probs: false to do without it) needs 38400 bytes, more than this device's maxStorageBufferBindingSize (lowered by setBindingLimit) of 16000 bytes: use a smaller batch or input size, or a GPU with a larger limit",
      );
      expect(() => tf.zeros([4001])).toThrow(
        "a float32 tensor of shape [4001] needs 16004 bytes, more than this device's maxStorageBufferBindingSize (lowered by setBindingLimit) of 16000 bytes: use a smaller batch or input size, or a GPU with a larger limit",
      );
      const vit = createVit(
        vitConfig({ hiddenSize: 32, numLayers: 1, numHeads: 2, mlpDim: 64, patchSize: 4, imageSize: 8, numClasses: 0 }),
      );
      const x = tf.zeros([2, 40, 32]);
      expect(() => blockForward(vit, 0, x)).toThrow(
        "block 0: the attention probabilities tensor [2,2,40,40] asked for needs 25600 bytes, more than this device's maxStorageBufferBindingSize (lowered by setBindingLimit) of 16000 bytes: use a smaller batch or input size, or a GPU with a larger limit",
      );
      const r = blockForward(vit, 0, x, { probs: false });
      expect(r.probs).toBeUndefined();
      tf.dispose([r.out, r.keys, r.values]);
      tf.dispose([q, k, x]);
      vit.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});
