import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng } from '@fpt/core';
import { attached, defineMethod, numberIn, positiveInt, type AttachedMethod, type VitModel } from '@fpt/backbone-vit';
import { ACTIVATIONS, addDense, bottleneck, type Activation } from '../layers';
import { LAYER_NORMS } from './selective';

/** Configuration of Houlsby adapters. */
export interface HoulsbyConfig {
  /** Hidden width of each adapter. */
  bottleneck: number;
  /**
   * Also train every LayerNorm of the backbone, as Houlsby et al. (2019) do. Default false, which
   * is the [reference count](../../../../docs/method.md#baselines) (1,789,056 + head on ViT-B) and the paper's 2.03 % share.
   */
  trainLayerNorm: boolean;
  /** Initialisation seed. */
  seed: number;
}

/** Configuration of Pfeiffer adapters. */
export interface PfeifferConfig {
  /** Hidden width of the adapter. */
  bottleneck: number;
  /** The bottleneck's non-linearity: `relu` (default, as the adapters library's Pfeiffer configuration) or `gelu`. */
  activation: Activation;
  /** Initialisation seed. */
  seed: number;
}

/** Configuration of AdaptFormer. */
export interface AdaptFormerConfig {
  /** Hidden width of each adapter. */
  bottleneck: number;
  /** The adapter branch's output is multiplied by this. */
  scale: number;
  /** Initialisation seed. */
  seed: number;
}

function adapters(
  backbone: VitModel,
  width: number,
  seed: number,
  branches: Array<'attn' | 'mlp'>,
  combine: (prefix: string, module: Module, input: tf.Tensor, output: tf.Tensor) => tf.Tensor,
  fields: Partial<AttachedMethod> = {},
): AttachedMethod {
  const d = backbone.config.hiddenSize;
  const rng = new Rng(seed);
  const module = new Module();
  for (let i = 0; i < backbone.config.numLayers; i++) {
    for (const b of branches) {
      addDense(module, `blocks.${i}.adapter_${b}.down`, width, d, 'kaiming', rng);
      addDense(module, `blocks.${i}.adapter_${b}.up`, d, width, 'zeros', rng);
    }
  }
  return attached(module, {
    ...fields,
    hooks: () => ({
      residual(layer, branch, input, output) {
        if (!branches.includes(branch)) return output;
        return combine(`blocks.${layer}.adapter_${branch}`, module, input, output);
      },
    }),
  });
}

/**
 * Houlsby adapters (Houlsby et al. 2019): two per block, on the attention and MLP branch outputs,
 * each x + up(GELU(down(x))) with the up-projection initialised to zero (identity at start).
 * `blocks.N.adapter_{attn,mlp}.{down,up}.{weight,bias}`; with `trainLayerNorm` the backbone's
 * LayerNorms train too.
 */
export const adapterHoulsby = defineMethod<HoulsbyConfig>({
  name: 'adapter-houlsby',
  description: 'Houlsby adapters: two bottleneck adapters per block',
  defaults: { bottleneck: 48, trainLayerNorm: false, seed: 0 },
  validate(c) {
    positiveInt(c.bottleneck, 'bottleneck', 'adapter-houlsby');
    if (typeof c.trainLayerNorm !== 'boolean')
      throw new Error(`adapter-houlsby: option "trainLayerNorm" must be true or false, got ${JSON.stringify(c.trainLayerNorm)}`);
  },
  attach: (backbone, c) =>
    adapters(backbone, c.bottleneck, c.seed, ['attn', 'mlp'], (p, m, _x, y) => tf.add(y, bottleneck(m, p, y, 'gelu')), {
      unfreeze: c.trainLayerNorm ? [LAYER_NORMS] : [],
    }),
});

/** Pfeiffer adapters (Pfeiffer et al. 2021): one per block, after the MLP branch (ReLU by default). */
export const adapterPfeiffer = defineMethod<PfeifferConfig>({
  name: 'adapter-pfeiffer',
  description: 'Pfeiffer adapters: one bottleneck adapter per block, after the MLP',
  defaults: { bottleneck: 48, activation: 'relu', seed: 0 },
  validate(c) {
    positiveInt(c.bottleneck, 'bottleneck', 'adapter-pfeiffer');
    if (!ACTIVATIONS.includes(c.activation))
      throw new Error(
        `adapter-pfeiffer: option "activation" must be one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(c.activation)}`,
      );
  },
  attach: (backbone, c) => adapters(backbone, c.bottleneck, c.seed, ['mlp'], (p, m, _x, y) => tf.add(y, bottleneck(m, p, y, c.activation))),
});

/**
 * AdaptFormer (Chen et al. 2022): a bottleneck (ReLU) in parallel with each block's MLP, reading
 * the MLP branch's block-level input (before norm2), its output scaled by `scale` and added to the
 * MLP's.
 */
export const adaptFormer = defineMethod<AdaptFormerConfig>({
  name: 'adaptformer',
  description: 'AdaptFormer: a scaled parallel bottleneck beside every MLP',
  defaults: { bottleneck: 64, scale: 0.1, seed: 0 },
  validate(c) {
    positiveInt(c.bottleneck, 'bottleneck', 'adaptformer');
    numberIn(c.scale, 'scale', 'adaptformer');
  },
  attach: (backbone, c) =>
    adapters(backbone, c.bottleneck, c.seed, ['mlp'], (p, m, x, y) => tf.add(y, tf.mul(bottleneck(m, p, x, 'relu'), c.scale))),
});
