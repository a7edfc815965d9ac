// Wall-clock time of one training step of each method at the paper's shapes (ViT-B/16 LPM at
// 512x512, batch 16, AdamW, clipping) on the default backend (WASM with the fast kernels), in
// micro-batches where the whole batch does not fit WASM's heap, and of an evaluation forward pass
// per image; FPT+/FPT train from cached keys/values (random ones here: the step does not run the
// LPM), and their preload (one LPM forward per image) is timed per image too.
// Usage: node packages/bench/scripts/paper-step-time.mjs [methods, default full,vpt-deep,adapter-houlsby,lora,linear,fpt,fpt-plus] [fits.json] [classes, default 5]
// (after `pnpm exec turbo run build --filter=@fpt/bench...`). A fits file written by a paper-preset
// run (`<out>/memory-fits.json`) saves the step-memory fits; without one they are made here.
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, trainStep } from '@fpt/core';
import { adapt, createVit, trainingContext, vitB16Hf384 } from '@fpt/backbone-vit';
import {
  attentionScoresBytes,
  makeMethod,
  microBatches,
  planMicroBatch,
  setUpBackend,
  stepMemoryBudget,
  StepMemoryFits,
} from '../dist/index.js';

tf.enableProdMode();
const methods = (process.argv[2] ?? 'full,vpt-deep,adapter-houlsby,lora,linear,fpt,fpt-plus').split(',');
const fitsPath = process.argv[3] ?? '/tmp/paper-step-time-fits.json';
const backend = await setUpBackend('wasm');
console.log(`backend ${backend.backend}, kernels: ${backend.kernelsLine}`);
const budget = stepMemoryBudget(backend.heapLimitBytes);
const lpm = vitB16Hf384();
const [B, S, C] = [16, 512, Number(process.argv[4] ?? 5)];
const fits = new StepMemoryFits(fitsPath, backend.backend, budget, () => {});
const sec = (t0) => (performance.now() - t0) / 1000;
for (const name of methods) {
  const make = () => makeMethod(name, {}, S);
  const fit = await fits.fit(name, {}, make, { lpm, imageSize: S, numClasses: C });
  const micro = planMicroBatch(fit, lpm.numLayers, B, budget, name, attentionScoresBytes(lpm, S));
  const backbone = createVit(lpm, { seed: 1 });
  const model = adapt(backbone, [make()], { numClasses: C });
  const size = model.needsInputs ? model.imageSize : S;
  const opt = new AdamW(model.trainableVariables(), { lr: 1e-4 });
  const parts = (step) =>
    microBatches(B, micro).map(([a, b]) => ({
      weight: (b - a) / B,
      loss: () =>
        model.loss(
          {
            pixels: tf.randomNormal([b - a, 3, size, size], 0, 1, 'float32', a),
            extras: Object.fromEntries(Object.entries(model.inputShapes(b - a)).map(([k, s]) => [k, tf.randomNormal(s)])),
          },
          tf.zeros([b - a], 'int32'),
          { ...trainingContext(step), sampleOffset: a },
        ),
    }));
  // Warm-up on one micro-batch: AdamW's moments, kernel set-up.
  trainStep(
    [parts(0)[0]].map((p) => ({ ...p, weight: 1 })),
    opt,
    { clipNorm: 1 },
  );
  let t0 = performance.now();
  trainStep(parts(1), opt, { clipNorm: 1 });
  const step = sec(t0);
  t0 = performance.now();
  for (const [a, b] of microBatches(B, micro)) {
    const pixels = tf.randomNormal([b - a, 3, size, size]);
    const extras = Object.fromEntries(Object.entries(model.inputShapes(b - a)).map(([k, s]) => [k, tf.randomNormal(s)]));
    const logits = model.forward({ pixels, extras });
    await logits.data();
    tf.dispose([pixels, logits, ...Object.values(extras)]);
  }
  const forward = sec(t0) / B;
  let preload = '';
  const need = model.needsInputs;
  if (need) {
    const px = tf.randomNormal([1, 3, S, S]);
    tf.dispose(Object.values(need.prepare(px))); // warm-up
    t0 = performance.now();
    const prepared = need.prepare(px);
    await Promise.all(Object.values(prepared).map((t) => t.data()));
    preload = ` preload_s_per_image=${sec(t0).toFixed(2)}`;
    tf.dispose([px, ...Object.values(prepared)]);
  }
  console.log(
    `method=${name} micro_batch=${micro} step_s=${step.toFixed(1)} train_s_per_image=${(step / B).toFixed(2)} eval_s_per_image=${forward.toFixed(2)}${preload} load=${loadavg()[0].toFixed(1)}`,
  );
  opt.dispose();
  model.dispose();
  backbone.dispose();
}
process.exit(0);
