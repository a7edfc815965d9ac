import * as tf from '@tensorflow/tfjs-core';
import { AdamW, crossEntropy, measureStep, parameterReport, trainStep } from '@fpt/core';
import { createVit, vitForward, type VitConfig } from '@fpt/backbone-vit';
import { createFptOptimizer, FptModel, fptTrainStep, type FptConfig } from '@fpt/fpt-plus';
import { kvShape } from '@fpt/fpt-plus/node';

/** Peak live-tensor bytes of one steady-state training step, and what was measured. */
export interface StepMemory {
  /** Peak bytes of distinct live data buffers during the step (core's `measureStep`, `peakBufferBytes`: views and saved clones count once). */
  peakBytes: number;
  /** Bytes of parameters that live through the step but are not the method's concern (excluded from `peakBytes`). */
  excludedBytes: number;
}

/**
 * Peak memory of one full fine-tuning step (every parameter trains; AdamW, clipping) of a ViT at
 * `imageSize` and `batch`. A first step runs unmeasured so the optimizer's moments exist, as they
 * do in every later step.
 */
export async function fullFinetuneStepMemory(config: VitConfig, imageSize: number, batch: number): Promise<StepMemory> {
  const vit = createVit(config, { init: 'zeros' });
  const opt = new AdamW(vit.trainableVariables(), { lr: 1e-4 });
  const pixels = tf.zeros([batch, config.numChannels, imageSize, imageSize]);
  const labels = tf.zeros([batch], 'int32');
  const loss = () => crossEntropy(vitForward(vit, pixels).logits!, labels);
  try {
    trainStep(loss, opt, { clipNorm: 1 });
    const m = await measureStep(() => trainStep(loss, opt, { clipNorm: 1 }));
    return { peakBytes: m.peakBufferBytes, excludedBytes: 0 };
  } finally {
    tf.dispose([pixels, labels]);
    opt.dispose();
    vit.dispose();
  }
}

/**
 * Peak memory of one FPT+ training step on cached keys and values (the LPM does not run). The
 * frozen LPM's weights, which training from the cache never touches, are excluded from the figure.
 */
export async function fptStepMemory(config: FptConfig, batch: number): Promise<StepMemory> {
  const model = new FptModel(config);
  const lpmBytes = parameterReport(model.lpm).total * 4;
  const [L, H, n, d] = kvShape(model);
  const kv = { keys: tf.randomNormal([L, batch, H, n, d]), values: tf.randomNormal([L, batch, H, n, d]) };
  const size = config.side.imageSize;
  const pixelsLr = tf.randomNormal([batch, 3, size, size]);
  const labels = tf.zeros([batch], 'int32');
  const opt = createFptOptimizer(model, { lr: 1e-4 });
  try {
    fptTrainStep(model, opt, { kv, pixelsLr, labels });
    const m = await measureStep(() => fptTrainStep(model, opt, { kv, pixelsLr, labels }));
    return { peakBytes: m.peakBufferBytes - lpmBytes, excludedBytes: lpmBytes };
  } finally {
    tf.dispose([kv.keys, kv.values, pixelsLr, labels]);
    opt.dispose();
    model.dispose();
  }
}
