import * as tf from '@tensorflow/tfjs-core';
import { Module } from '@fpt/core';
import { promptsForLayer, vptPrompts } from '@fpt/prompts';
import { methodPart, positiveInt, type BaselineMethod, type MethodPart } from '../part';

/** Configuration of VPT (Jia et al. 2022). */
export interface VptConfig {
  /** Prompt tokens per layer. */
  prompts: number;
  /** Initialisation seed. */
  seed: number;
}

function vpt(name: 'vpt-shallow' | 'vpt-deep', backbone: Parameters<BaselineMethod<VptConfig>['apply']>[0], c: VptConfig): MethodPart {
  positiveInt(c.prompts, 'prompts', name);
  const { hiddenSize: dim, numLayers, patchSize } = backbone.config;
  const layers = name === 'vpt-deep' ? numLayers : 1;
  const module = new Module();
  module.addParameter('prompts', vptPrompts({ layers, prompts: c.prompts, dim, patchSize, seed: c.seed }));
  const M = c.prompts;
  // Prompts sit right after CLS, so the head's CLS token stays at index 0.
  const insert = (tokens: tf.Tensor, layer: number, replace: boolean) => {
    const [b, n, d] = tokens.shape;
    const cls = tf.slice(tokens, [0, 0, 0], [b, 1, d]);
    const rest = replace ? tf.slice(tokens, [0, 1 + M, 0], [b, n - 1 - M, d]) : tf.slice(tokens, [0, 1, 0], [b, n - 1, d]);
    return tf.concat([cls, promptsForLayer(module.get('prompts'), layer, b), rest], 1);
  };
  return methodPart(module, {
    embeddings: (tokens) => insert(tokens, 0, false),
    ...(name === 'vpt-deep' ? { beforeBlock: (layer: number, tokens: tf.Tensor) => (layer === 0 ? tokens : insert(tokens, layer, true)) } : {}),
  });
}

/** VPT-shallow: prompt tokens inserted after CLS once, before the first block. */
export const vptShallow: BaselineMethod<VptConfig> = {
  name: 'vpt-shallow',
  description: 'VPT-shallow: learnable tokens before the first block',
  defaults: { prompts: 16, seed: 0 },
  apply: (backbone, c) => vpt('vpt-shallow', backbone, c),
};

/** VPT-deep: a new set of prompt tokens before every block, replacing the previous block's. */
export const vptDeep: BaselineMethod<VptConfig> = {
  name: 'vpt-deep',
  description: 'VPT-deep: new learnable tokens before every block',
  defaults: { prompts: 16, seed: 0 },
  apply: (backbone, c) => vpt('vpt-deep', backbone, c),
};
