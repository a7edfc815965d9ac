import * as tf from '@tensorflow/tfjs-core';
import { vitConfig } from '@fpt/backbone-vit';
import { FptModel, fptPlusConfig, type FptConfigInput } from '../src/index';

/** A tiny FPT+ (LPM width 32, 4 layers at 32 px; side width 16 at 16 px) with a random LPM. */
export function tinyModel(overrides: FptConfigInput = {}, classes = 3): FptModel {
  const lpm = vitConfig({ hiddenSize: 32, numLayers: 4, numHeads: 4, mlpDim: 64, patchSize: 8, imageSize: 32, numClasses: 7, layerNormEps: 1e-12, posEmbedResample: 'hf' });
  const config = fptPlusConfig(classes, {
    lpm,
    inputSize: 32,
    layers: [2, 3],
    fusion: { prompts: 4 },
    side: { hiddenSize: 16, numHeads: 4, mlpDim: 32, patchSize: 8, imageSize: 16 },
    ...overrides,
  });
  const model = new FptModel(config);
  // Give the LPM random weights (it is built zero-initialised, to be loaded from a checkpoint).
  let seed = 1;
  for (const p of model.lpm.namedParameters()) {
    tf.tidy(() => p.variable.assign(tf.add(p.variable, tf.randomNormal(p.variable.shape, 0, 0.2, 'float32', seed++))));
  }
  // Prompts at 1e-6 barely move the side network; larger ones make the tests sensitive.
  tf.tidy(() => model.fusion.get('prompts').assign(tf.randomNormal(model.fusion.get('prompts').shape, 0, 1, 'float32', 99)));
  return model;
}

/** Deterministic pseudo-images. */
export function pixels(batch: number, size: number, seed: number): tf.Tensor {
  return tf.randomNormal([batch, 3, size, size], 0, 1, 'float32', seed);
}
