import * as tf from '@tensorflow/tfjs-core';
import { AdamW, crossEntropy, measureStep, parameterReport, trainStep } from '@fpt/core';
import { adapt, createVit, trainingContext, vitForward, type Method, type VitConfig } from '@fpt/backbone-vit';

/** Peak live-tensor bytes of one steady-state training step, and what was measured. */
export interface StepMemory {
  /** Peak bytes of live tensors during the step (core's `measureStep`). */
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
    return { peakBytes: m.peakBytes, excludedBytes: 0 };
  } finally {
    tf.dispose([pixels, labels]);
    opt.dispose();
    vit.dispose();
  }
}

/**
 * Peak memory of one training step of any method on a zero-initialised backbone of `config`, at
 * the method's own input shapes (FPT+: the side image and cached keys/values, so the backbone does
 * not run). For methods that train from precomputed inputs, the frozen backbone's weights, which
 * such a step never reads, are excluded from the figure and reported apart.
 * @param config - the backbone (LPM) architecture
 * @param method - the method
 * @param batch - images per step
 * @param numClasses - classes of the head
 */
export async function methodStepMemory(config: VitConfig, method: Method, batch: number, numClasses = 5): Promise<StepMemory> {
  const backbone = createVit(config, { init: 'zeros' });
  const model = adapt(backbone, [method], { numClasses });
  const size = model.imageSize;
  const extras = Object.fromEntries(Object.entries(model.inputShapes(batch)).map(([k, shape]) => [k, tf.randomNormal(shape)]));
  const pixels = tf.randomNormal([batch, config.numChannels, size, size]);
  const labels = tf.zeros([batch], 'int32');
  const opt = new AdamW(model.trainableVariables(), { lr: 1e-4 });
  const step = (i: number) => trainStep(() => model.loss({ pixels, extras }, labels, trainingContext(i)), opt, { clipNorm: 1 });
  const excludedBytes = model.inputs.length ? parameterReport(backbone).total * 4 : 0;
  try {
    step(0);
    const m = await measureStep(() => step(1));
    return { peakBytes: m.peakBytes - excludedBytes, excludedBytes };
  } finally {
    tf.dispose([pixels, labels, ...Object.values(extras)]);
    opt.dispose();
    model.dispose();
    backbone.dispose();
  }
}
