import * as tf from '@tensorflow/tfjs-core';
import { layerNorm, linear, type Module, type Rng, truncatedNormal } from '@fpt/core';

/** The fields of a fusion config a variant reads (see `FusionConfig`). */
export interface VariantShape {
  /** Fused layers L. */
  layers: number;
  /** Prompts per layer M. */
  prompts: number;
  /** LPM width. */
  lpmDim: number;
  /** Side-network width. */
  sideDim: number;
  /** Epsilon of the prompt LayerNorm. */
  layerNormEps: number;
}

/**
 * How a fusion design turns prompts into queries and the attended context into fused prompts: the
 * strategy that tells FPT+ from FPT v1 ([fusion module](../../../docs/method.md#fusion-module), [FPT v1](../../../docs/method.md#fpt-v1)).
 */
export interface FusionVariant {
  /** `fpt+` or `fpt`: names the design in configs and errors. */
  readonly name: string;
  /** Dropout on the fused prompts when the config names none. */
  readonly defaultDropout: number;
  /** Width of the learnable prompts. */
  promptDim(c: VariantShape): number;
  /** Adds the variant's own query parameters to the module (after the prompts, before out_proj). */
  addQueryParameters(module: Module, c: VariantShape, rng: Rng): void;
  /** Queries [L, 1, M, lpmDim] from the prompts P [L, 1, M, Dp]. */
  queries(module: Module, prompts: tf.Tensor, c: VariantShape): tf.Tensor;
  /**
   * Fused prompts [L, B, M, sideDim] from the attended context [L, B, M, lpmDim].
   * @param drop - the configured dropout, applied where the design applies it
   */
  output(module: Module, context: tf.Tensor, prompts: tf.Tensor, c: VariantShape, drop: (x: tf.Tensor) => tf.Tensor): tf.Tensor;
  /** The name, for JSON. */
  toJSON(): string;
}

const outProj = (m: Module, x: tf.Tensor) => linear(x, m.get('out_proj.weight'), m.get('out_proj.bias'));

/**
 * FPT+: Q = heads(LN(P)); F = Dropout(out_proj(C + P)): the residual adds the un-normalised
 * prompts before the projection; prompts are LPM-wide; dropout 0.5.
 */
export const fptPlusFusion: FusionVariant = Object.freeze({
  name: 'fpt+',
  defaultDropout: 0.5,
  promptDim: (c: VariantShape) => c.lpmDim,
  addQueryParameters(m: Module, c: VariantShape) {
    m.addParameter('layer_norm.weight', tf.ones([c.lpmDim]));
    m.addParameter('layer_norm.bias', tf.zeros([c.lpmDim]));
  },
  queries: (m: Module, P: tf.Tensor, c: VariantShape) => layerNorm(P, m.get('layer_norm.weight'), m.get('layer_norm.bias'), c.layerNormEps),
  output: (m: Module, context: tf.Tensor, P: tf.Tensor, _c: VariantShape, drop: (x: tf.Tensor) => tf.Tensor) =>
    drop(outProj(m, tf.add(context, P))),
  toJSON: () => 'fpt+',
});

/**
 * FPT v1: Q = heads(prompt_proj(P)); F = Dropout(out_proj(C)) + P: prompts live at the side width
 * and are projected up; the residual adds them after the projection. Dropout 0.5 by default: the
 * official FPT code's FPT network config does not override its fusion module's default of 0.5.
 */
export const fptV1Fusion: FusionVariant = Object.freeze({
  name: 'fpt',
  defaultDropout: 0.5,
  promptDim: (c: VariantShape) => c.sideDim,
  addQueryParameters(m: Module, c: VariantShape, rng: Rng) {
    m.addParameter('prompt_proj.weight', truncatedNormal([c.lpmDim, c.sideDim], 0.02, rng));
    m.addParameter('prompt_proj.bias', tf.zeros([c.lpmDim]));
  },
  queries: (m: Module, P: tf.Tensor) => linear(P, m.get('prompt_proj.weight'), m.get('prompt_proj.bias')),
  output: (m: Module, context: tf.Tensor, P: tf.Tensor, c: VariantShape, drop: (x: tf.Tensor) => tf.Tensor) =>
    tf.add(drop(outProj(m, context)), tf.reshape(P, [c.layers, 1, c.prompts, c.sideDim])),
  toJSON: () => 'fpt',
});
