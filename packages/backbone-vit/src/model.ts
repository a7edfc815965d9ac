import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng, truncatedNormal } from '@fpt/core';
import type { VitConfig } from './config';

/** Options of {@link createVit}. */
export interface CreateVitOptions {
  /** Seed of the initialisation. Default 0. */
  seed?: number;
  /**
   * `trunc-normal` (default): timm's initialisation. `zeros`: every weight zero and LayerNorm 1/0,
   * much faster for a model whose weights are loaded from a checkpoint right after.
   */
  init?: 'trunc-normal' | 'zeros';
}

/**
 * A ViT's parameters under timm's names, in PyTorch layouts:
 * `cls_token` [1,1,D], `pos_embed` [1,1+g*g,D], `patch_embed.proj.{weight [D,C,p,p], bias}`,
 * `blocks.i.norm1`, `blocks.i.attn.qkv` (fused [3D, D], rows q then k then v), `blocks.i.attn.proj`,
 * `blocks.i.norm2`, `blocks.i.mlp.fc1`, `blocks.i.mlp.fc2`, `norm`, `head` (when numClasses > 0).
 */
export class VitModel extends Module {
  /**
   * @param config - the architecture
   * @param options - initialisation seed
   */
  constructor(
    readonly config: VitConfig,
    options: CreateVitOptions = {},
  ) {
    super();
    const { hiddenSize: d, numLayers, mlpDim, patchSize: p, numChannels: c, numClasses } = config;
    const rng = new Rng(options.seed ?? 0);
    const grid = config.imageSize / p;
    // timm/ViT initialisation: truncated normal std 0.02, zero biases, LayerNorm 1/0.
    const w = (shape: number[]) => (options.init === 'zeros' ? tf.zeros(shape) : truncatedNormal(shape, 0.02, rng));
    const norm = (prefix: string) => {
      this.addParameter(`${prefix}.weight`, tf.ones([d]));
      this.addParameter(`${prefix}.bias`, tf.zeros([d]));
    };
    const dense = (prefix: string, out: number, inp: number) => {
      this.addParameter(`${prefix}.weight`, w([out, inp]));
      this.addParameter(`${prefix}.bias`, tf.zeros([out]));
    };
    this.addParameter('cls_token', w([1, 1, d]));
    this.addParameter('pos_embed', w([1, 1 + grid * grid, d]));
    this.addParameter('patch_embed.proj.weight', w([d, c, p, p]));
    this.addParameter('patch_embed.proj.bias', tf.zeros([d]));
    for (let i = 0; i < numLayers; i++) {
      norm(`blocks.${i}.norm1`);
      dense(`blocks.${i}.attn.qkv`, 3 * d, d);
      dense(`blocks.${i}.attn.proj`, d, d);
      norm(`blocks.${i}.norm2`);
      dense(`blocks.${i}.mlp.fc1`, mlpDim, d);
      dense(`blocks.${i}.mlp.fc2`, d, mlpDim);
    }
    norm('norm');
    if (numClasses > 0) dense('head', numClasses, d);
  }
}

/**
 * Builds a randomly initialised ViT (truncated normal std 0.02, zero biases, LayerNorm 1/0).
 * @param config - the architecture, e.g. `vitConfig('vit-b16')`
 * @param options - initialisation seed
 */
export function createVit(config: VitConfig, options: CreateVitOptions = {}): VitModel {
  return new VitModel(config, options);
}
