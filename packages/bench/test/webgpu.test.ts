// WebGPU (Dawn in Node; SwiftShader on machines without a GPU): every method of `--methods all`
// trains a few steps with the losses and updated parameters of the WASM backend the bench uses,
// and the golden fixtures pass at the CPU tolerances. Shapes are tiny: SwiftShader compiles each
// new shader in about a second, and exactness does not depend on size.
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { fileURLToPath } from 'node:url';
import { AdamW, selectBackend, trainStepAsync } from '@fpt/core';
import { adapt, createVit, trainingContext } from '@fpt/backbone-vit';
import { enableFastKernels } from '@fpt/kernels';
import { benchPreset } from '../src/run/presets';
import { cliMethod, setsForLpm, trainableMethods } from '../src/commands/methods';
import { parityCommand } from '../src/commands/parity';
import { probeWebGpu, requireAdapterInCi } from './helpers/webgpu';

const probe = await probeWebGpu();
const TINY = benchPreset('tiny');
const STEPS = 3;
const BATCH = 2;
const LR = 1e-3;
/** Losses agree to float32 rounding of the forward pass. */
const LOSS_TOL = 1e-5;
/**
 * Parameters after {@link STEPS} AdamW steps: within half a learning rate. Adam divides each
 * gradient by its own magnitude, so an element whose gradient is float noise (measured: side-tuning's
 * largest gap, 1.4e-4, is at an element whose first gradient is -2.4e-10 on WASM, next to a largest
 * of 6.7e-4 in the same tensor) moves by a rounding-dependent fraction of the learning rate;
 * every other method stays within 2.1e-5.
 */
const PARAM_TOL = 0.5 * LR;

/** Losses and the trainable parameters after {@link STEPS} AdamW steps of one method on the active backend. */
async function trainFew(method: string): Promise<{ losses: number[]; params: Float32Array[] }> {
  const before = tf.memory().numTensors;
  const lpm = createVit(TINY.lpm, { seed: 7 });
  const sets = setsForLpm(method, TINY.methodOptions[method] ?? {}, TINY.lpmInputSize);
  const model = adapt(lpm, [cliMethod(method).make(sets)], { numClasses: 2, seed: 3 });
  const need = model.needsInputs;
  const side = need ? model.imageSize : TINY.lpmInputSize;
  // Deterministic pixels: the same values on every backend.
  const image = (s: number) =>
    tf.tensor(
      Float32Array.from({ length: BATCH * 3 * s * s }, (_, i) => Math.sin(i * 0.37)),
      [BATCH, 3, s, s],
    );
  const pixels = image(side);
  let extras: Record<string, tf.Tensor> | undefined;
  if (need) {
    // FPT+/FPT train on the LPM's keys and values, computed here on the same backend.
    const lpmPixels = image(TINY.lpmInputSize);
    extras = need.prepare(lpmPixels, { sampleSeeds: [11, 12] });
    lpmPixels.dispose();
  }
  const labels = tf.tensor1d([0, 1], 'int32');
  const variables = model.trainableVariables();
  const opt = new AdamW(variables, { lr: LR, weightDecay: 0.1 });
  const losses: number[] = [];
  try {
    for (let i = 0; i < STEPS; i++) {
      const r = await trainStepAsync(() => model.loss({ pixels, extras }, labels, trainingContext(i)), opt, { clipNorm: 1 });
      losses.push(r.loss);
    }
    const params: Float32Array[] = [];
    for (const v of variables) params.push((await v.data()) as Float32Array);
    return { losses, params };
  } finally {
    opt.dispose();
    tf.dispose([pixels, labels, ...Object.values(extras ?? {})]);
    model.dispose();
    lpm.dispose();
    leaked = tf.memory().numTensors - before;
  }
}
/** Tensors the last {@link trainFew} left alive. */
let leaked = 0;

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!)); // equal lengths
  return m;
}

describe('WebGPU', () => {
  requireAdapterInCi(probe);
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  describe.skipIf(!probe.adapter)('on the adapter', () => {
    it.each(trainableMethods())('%s trains %#: the same losses and parameters as on WASM', async (method) => {
      await selectBackend('wasm', (p) => import(p));
      enableFastKernels('wasm');
      const wasm = await trainFew(method);
      expect(leaked).toBe(0);
      await selectBackend('webgpu', (p) => import(p));
      const gpu = await trainFew(method);
      expect(leaked).toBe(0);
      for (let i = 0; i < STEPS; i++)
        expect(Math.abs(gpu.losses[i]! - wasm.losses[i]!)).toBeLessThanOrEqual(LOSS_TOL * Math.max(1, Math.abs(wasm.losses[i]!))); // STEPS losses each
      expect(gpu.params.length).toBe(wasm.params.length);
      const diffs = wasm.params.map((w, i) => maxAbsDiff(w, gpu.params[i]!)); // equal lengths, checked above
      console.log(
        `${method}: losses ${gpu.losses.map((l) => l.toFixed(6))}, params max |webgpu - wasm| ${Math.max(...diffs).toExponential(2)}`,
      );
      expect(Math.max(...diffs)).toBeLessThanOrEqual(PARAM_TOL);
    });

    it('fpt-bench parity --backend webgpu passes every golden fixture at the CPU tolerances', async () => {
      const golden = (f: string) => fileURLToPath(new URL(`../../../test/fixtures/golden/${f}`, import.meta.url));
      const lines: string[] = [];
      const code = await parityCommand(
        ['--backend', 'webgpu', ...['fptplus-tiny.safetensors', 'fpt-v1-tiny.safetensors', 'timm-vit-tiny.safetensors'].map(golden)],
        (l) => lines.push(l),
      );
      expect(lines[0]).toMatch(/^backend: webgpu; .*adapter: /);
      expect(lines.filter((l) => !l.startsWith('PASS')).slice(1)).toEqual([lines.at(-1)]);
      expect(lines.at(-1)).toMatch(/^\d+ passed, 0 failed, 0 skipped$/);
      expect(code).toBe(0);
    });
  });
});
