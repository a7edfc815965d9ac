import * as tf from '@tensorflow/tfjs-core';
import { adapt, createVit, vitConfig, type AdaptedModel, type MethodOptions, type NeedsInputs, type VitModel } from '@fpt/backbone-vit';
import { fptAttachment, fptPlus, type FptAttachment, type FptOptions } from '../src/index';

/** A tiny FPT+ on a random LPM, with its parts. */
export interface Tiny {
  /** The LPM. */
  lpm: VitModel;
  /** The adapted model (LPM + FPT+ + head). */
  model: AdaptedModel;
  /** The FPT+ attachment. */
  fpt: FptAttachment;
  /** The model's `needsInputs` capability (what the cache serves). */
  need: NeedsInputs;
  /** Frees everything. */
  dispose(): void;
}

/** The tiny LPM's architecture: width 32, 4 layers, 32 px, patch 8, HF naming. */
export const TINY_LPM = vitConfig({
  hiddenSize: 32,
  numLayers: 4,
  numHeads: 4,
  mlpDim: 64,
  patchSize: 8,
  imageSize: 32,
  numClasses: 7,
  layerNormEps: 1e-12,
  posEmbedResample: 'hf',
});

/** The tiny FPT+ options: LPM layers 2, 3 at 32 px; side width 16 at 16 px; 4 prompts. */
export const TINY_FPT: MethodOptions<FptOptions> = {
  inputSize: 32,
  layers: [2, 3],
  prompts: 4,
  side: { hiddenSize: 16, numHeads: 4, mlpDim: 32, patchSize: 8, imageSize: 16 },
};

/** A tiny FPT+ (LPM width 32, 4 layers at 32 px; side width 16 at 16 px) with a random LPM. */
export function tinyFpt(overrides: MethodOptions<FptOptions> = {}, classes = 3): Tiny {
  const lpm = createVit(TINY_LPM, { init: 'zeros' });
  // Give the LPM random weights (it is built zero-initialised, to be loaded from a checkpoint).
  let seed = 1;
  for (const p of lpm.namedParameters()) {
    tf.tidy(() => p.variable.assign(tf.add(p.variable, tf.randomNormal(p.variable.shape, 0, 0.2, 'float32', seed++))));
  }
  const model = adapt(lpm, [fptPlus({ ...TINY_FPT, ...overrides })], { numClasses: classes });
  const fpt = fptAttachment(model);
  // Prompts at 1e-6 barely move the side network; larger ones make the tests sensitive.
  tf.tidy(() => fpt.fusion.get('prompts').assign(tf.randomNormal(fpt.fusion.get('prompts').shape, 0, 1, 'float32', 99)));
  return {
    lpm,
    model,
    fpt,
    need: model.needsInputs!,
    dispose() {
      model.dispose();
      lpm.dispose();
    },
  };
}

/** Deterministic pseudo-images. */
export function pixels(batch: number, size: number, seed: number): tf.Tensor {
  return tf.randomNormal([batch, 3, size, size], 0, 1, 'float32', seed);
}
