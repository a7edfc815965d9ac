import * as tf from '@tensorflow/tfjs-core';
import { blockForward, classify, createVit, embed, finalNorm, type VitHooks, type VitModel } from '@fpt/backbone-vit';
import { sideVitConfig, type SideNetConfig } from './config';

/**
 * Builds the side network: a ViT made from scratch with timm's initialisation (truncated normal
 * std 0.02 for linear, patch, CLS and position weights; zero biases; LayerNorm 1/0).
 * Parameter names are timm's (`blocks.0.attn.qkv.weight`, ...), see `@fpt/backbone-vit`.
 * @param config - from `sideNetConfig`
 * @param seed - initialisation seed
 */
export function createSideNet(config: SideNetConfig, seed = 0): VitModel {
  return createVit(sideVitConfig(config), { seed });
}

/** Options of {@link sideForward}. */
export interface SideForwardOptions {
  /** Tokens appended before block i and dropped after it, [B, M, D] (FPT+'s fused prompts). */
  extraTokens?: (layer: number) => tf.Tensor | undefined;
  /** Method hooks (side-tuning and custom variants). */
  hooks?: VitHooks;
}

/**
 * The side network's forward: embed the low-resolution image, run every block with that layer's
 * extra tokens appended (no position embedding on them; their outputs dropped, so prompts are
 * replaced, not carried, from layer to layer), final LayerNorm, CLS -> classifier.
 * @param side - the side ViT
 * @param pixels - low-resolution image [B, 3, h, w], normalised
 * @param options - extra tokens per layer
 * @returns logits [B, classes]
 */
export function sideForward(side: VitModel, pixels: tf.Tensor, options: SideForwardOptions = {}): tf.Tensor {
  let x = embed(side, pixels, options.hooks);
  for (let i = 0; i < side.config.numLayers; i++) {
    const r = blockForward(side, i, x, { extraTokens: options.extraTokens?.(i), hooks: options.hooks });
    tf.dispose([r.keys, r.values, r.probs]); // unused: free them now, not at the caller's scope end
    x = r.out;
  }
  return classify(side, finalNorm(side, x, options.hooks), options.hooks);
}
