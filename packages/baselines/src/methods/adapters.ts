import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng } from '@fpt/core';
import { addDense, bottleneck } from '../layers';
import { methodPart, positiveInt, type BaselineMethod, type MethodPart } from '../part';

/** Configuration of the bottleneck adapters. */
export interface AdapterConfig {
  /** Hidden width of each adapter. */
  bottleneck: number;
  /** Initialisation seed. */
  seed: number;
}

/** Configuration of AdaptFormer. */
export interface AdaptFormerConfig extends AdapterConfig {
  /** The adapter branch's output is multiplied by this. */
  scale: number;
}

function adapters(
  method: string,
  backbone: Parameters<BaselineMethod<AdapterConfig>['apply']>[0],
  c: AdapterConfig,
  branches: Array<'attn' | 'mlp'>,
  combine: (prefix: string, module: Module, input: tf.Tensor, output: tf.Tensor) => tf.Tensor,
): MethodPart {
  positiveInt(c.bottleneck, 'bottleneck', method);
  const d = backbone.config.hiddenSize;
  const rng = new Rng(c.seed);
  const module = new Module();
  for (let i = 0; i < backbone.config.numLayers; i++) {
    for (const b of branches) {
      addDense(module, `blocks.${i}.adapter_${b}.down`, c.bottleneck, d, 'kaiming', rng);
      addDense(module, `blocks.${i}.adapter_${b}.up`, d, c.bottleneck, 'zeros', rng);
    }
  }
  return methodPart(module, {
    residual(layer, branch, input, output) {
      if (!branches.includes(branch)) return output;
      return combine(`blocks.${layer}.adapter_${branch}`, module, input, output);
    },
  });
}

/**
 * Houlsby adapters (Houlsby et al. 2019): two per block, on the attention and MLP branch outputs,
 * each x + up(GELU(down(x))) with the up-projection initialised to zero (identity at start).
 * `blocks.N.adapter_{attn,mlp}.{down,up}.{weight,bias}`.
 */
export const houlsby: BaselineMethod<AdapterConfig> = {
  name: 'adapter-houlsby',
  description: 'Houlsby adapters: two bottleneck adapters per block',
  defaults: { bottleneck: 48, seed: 0 },
  apply: (backbone, c) => adapters('adapter-houlsby', backbone, c, ['attn', 'mlp'], (p, m, _x, y) => tf.add(y, bottleneck(m, p, y, 'gelu'))),
};

/** Pfeiffer adapters (Pfeiffer et al. 2021): one per block, after the MLP branch. */
export const pfeiffer: BaselineMethod<AdapterConfig> = {
  name: 'adapter-pfeiffer',
  description: 'Pfeiffer adapters: one bottleneck adapter per block, after the MLP',
  defaults: { bottleneck: 48, seed: 0 },
  apply: (backbone, c) => adapters('adapter-pfeiffer', backbone, c, ['mlp'], (p, m, _x, y) => tf.add(y, bottleneck(m, p, y, 'gelu'))),
};

/**
 * AdaptFormer (Chen et al. 2022): a bottleneck (ReLU) in parallel with each block's MLP, reading
 * the MLP branch's input, its output scaled by `scale` and added to the MLP's.
 */
export const adaptformer: BaselineMethod<AdaptFormerConfig> = {
  name: 'adaptformer',
  description: 'AdaptFormer: a scaled parallel bottleneck beside every MLP',
  defaults: { bottleneck: 64, scale: 0.1, seed: 0 },
  apply: (backbone, c) => {
    if (!Number.isFinite(c.scale)) throw new Error(`adaptformer: option "scale" must be a number, got ${c.scale}`);
    return adapters('adaptformer', backbone, c, ['mlp'], (p, m, x, y) => tf.add(y, tf.mul(bottleneck(m, p, x, 'relu'), c.scale)));
  },
};
