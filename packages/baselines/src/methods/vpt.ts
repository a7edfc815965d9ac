import * as tf from '@tensorflow/tfjs-core';
import { dims, Module } from '@fpt/core';
import { attached, defineMethod, positiveInt, type AttachedMethod, type VitHooks, type VitModel } from '@fpt/backbone-vit';
import { promptsForLayer, vptPrompts } from '@fpt/prompts';

/** Configuration of VPT (Jia et al. 2022). */
export interface VptConfig {
  /** Prompt tokens per layer. */
  prompts: number;
  /** Initialisation seed. */
  seed: number;
}

/** Where prompts enter: once before the first block, or anew before every block. */
interface VptDepth {
  layers(backbone: VitModel): number;
  hooks(insert: (tokens: tf.Tensor, layer: number, replace: boolean) => tf.Tensor): VitHooks;
}

const shallow: VptDepth = {
  layers: () => 1,
  hooks: (insert) => ({ embeddings: (tokens) => insert(tokens, 0, false) }),
};

const deep: VptDepth = {
  layers: (backbone) => backbone.config.numLayers,
  hooks: (insert) => ({
    embeddings: (tokens) => insert(tokens, 0, false),
    beforeBlock: (layer, tokens) => (layer === 0 ? tokens : insert(tokens, layer, true)),
  }),
};

function vpt(backbone: VitModel, c: VptConfig, depth: VptDepth): AttachedMethod {
  const { hiddenSize: dim, patchSize } = backbone.config;
  const module = new Module();
  module.addParameter('prompts', vptPrompts({ layers: depth.layers(backbone), prompts: c.prompts, dim, patchSize, seed: c.seed }));
  const M = c.prompts;
  // Prompts sit right after CLS, so the head's CLS token stays at index 0.
  const insert = (tokens: tf.Tensor, layer: number, replace: boolean) => {
    const [b, n, d] = dims(tokens, ['B', 'N', 'D'], 'vpt: tokens');
    const cls = tf.slice(tokens, [0, 0, 0], [b, 1, d]);
    const rest = replace ? tf.slice(tokens, [0, 1 + M, 0], [b, n - 1 - M, d]) : tf.slice(tokens, [0, 1, 0], [b, n - 1, d]);
    return tf.concat([cls, promptsForLayer(module.get('prompts'), layer, b), rest], 1);
  };
  const hooks = depth.hooks(insert);
  return attached(module, { hooks: () => hooks });
}

/** VPT-shallow: prompt tokens inserted after CLS once, before the first block. */
export const vptShallow = defineMethod<VptConfig>({
  name: 'vpt-shallow',
  description: 'VPT-shallow: learnable tokens before the first block',
  defaults: { prompts: 16, seed: 0 },
  validate: (c) => positiveInt(c.prompts, 'prompts', 'vpt-shallow'),
  attach: (backbone, c) => vpt(backbone, c, shallow),
});

/** VPT-deep: a new set of prompt tokens before every block, replacing the previous block's. */
export const vptDeep = defineMethod<VptConfig>({
  name: 'vpt-deep',
  description: 'VPT-deep: new learnable tokens before every block',
  defaults: { prompts: 16, seed: 0 },
  validate: (c) => positiveInt(c.prompts, 'prompts', 'vpt-deep'),
  attach: (backbone, c) => vpt(backbone, c, deep),
});
