import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng, truncatedNormal } from '@fpt/core';
import { fineGrainedPrompts } from '@fpt/prompts';
import type { FusionConfig } from './config';

/**
 * The fine-grained fusion module's parameters, stacked over the fused layers, under the authors'
 * state-dict names: `prompts` [L, 1, M, Dp], `layer_norm.{weight,bias}` [lpmDim] (FPT+),
 * `prompt_proj.{weight [lpmDim, sideDim], bias}` (FPT v1), `out_proj.{weight [sideDim, lpmDim], bias}`.
 * Dp, the prompt width, is lpmDim for FPT+ and sideDim for FPT v1.
 */
export class FusionModule extends Module {
  /** @param config - a complete config from `fusionConfig` */
  constructor(readonly config: FusionConfig) {
    super();
    const { variant, layers, prompts, lpmDim, sideDim, promptStd, seed } = config;
    const rng = new Rng(seed);
    this.addParameter('prompts', fineGrainedPrompts({ layers, prompts, dim: variant.promptDim(config), std: promptStd, seed: rng.seed() }));
    variant.addQueryParameters(this, config, rng);
    this.addParameter('out_proj.weight', truncatedNormal([sideDim, lpmDim], 0.02, rng));
    this.addParameter('out_proj.bias', tf.zeros([sideDim]));
  }
}
