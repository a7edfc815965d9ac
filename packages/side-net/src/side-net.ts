import type * as tf from '@tensorflow/tfjs-core';
import { clsToken, createVit, vitForward, type VitHooks, type VitModel } from '@fpt/backbone-vit';
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

/** Options of {@link sideForward} and {@link sideFeatures}. */
export interface SideForwardOptions {
  /** Tokens appended before block i and dropped after it, [B, M, D] (FPT+'s fused prompts). */
  extraTokens?: (layer: number) => tf.Tensor | undefined;
  /** Method hooks (a PETL method on the side network: LoRA, SSF, VPT-deep, ...). */
  hooks?: VitHooks;
}

/**
 * The side network's features: embed the low-resolution image, run every block through
 * backbone-vit's one block loop with that layer's extra tokens appended (no position embedding on
 * them; their outputs dropped, so prompts are replaced, not carried, from layer to layer) and the
 * hooks applied as on any backbone, final LayerNorm, CLS token.
 * @param side - the side ViT
 * @param pixels - low-resolution image [B, 3, h, w], normalised
 * @param options - extra tokens per layer, hooks
 * @returns [B, width]
 */
export function sideFeatures(side: VitModel, pixels: tf.Tensor, options: SideForwardOptions = {}): tf.Tensor {
  return clsToken(vitForward(side, pixels, { ...options, head: false }).features);
}

/**
 * {@link sideFeatures} followed by the side network's own classifier.
 * @param side - the side ViT (with a head)
 * @param pixels - low-resolution image [B, 3, h, w], normalised
 * @param options - extra tokens per layer, hooks
 * @returns logits [B, classes]
 * @throws when the side network has no head
 */
export function sideForward(side: VitModel, pixels: tf.Tensor, options: SideForwardOptions = {}): tf.Tensor {
  const out = vitForward(side, pixels, options);
  if (!out.logits) throw new Error('sideForward: the side network has no head (numClasses 0); use sideFeatures');
  return out.logits;
}
