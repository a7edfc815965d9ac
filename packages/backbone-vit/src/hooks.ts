import type * as tf from '@tensorflow/tfjs-core';

/**
 * Points where a PETL method changes a ViT's computation without touching its weights. Every
 * hook is optional and receives canonical (timm) parameter-name prefixes, so methods select where
 * they act by matching names, the way peft does.
 *
 * Every hook follows one rule: its last argument is the tensor it transforms and it returns the
 * tensor to use instead; the arguments before it say where it is. That is what lets
 * {@link composeHooks} chain any hook point without listing them, so a new point is one field here
 * and one call site in the forward pass.
 *
 * Hooks run inside scopes of the forward pass (each linear map with its hooks, the embeddings, the
 * MLP, ...), whose temporaries are freed when the scope returns: a hook returns its tensors and
 * keeps none (one it stores elsewhere is freed with the scope, unless it calls `tf.keep` and frees
 * it itself).
 */
export interface VitHooks {
  /**
   * Before every linear map: `name` is the weight's prefix (`blocks.3.mlp.fc2`, ...), `input` what
   * would go in. Returns the input to use ((IA)³ scales the feed-forward output layer's input here).
   */
  linearInput?(name: string, input: tf.Tensor): tf.Tensor;
  /**
   * After every linear map: `name` is the weight's prefix (`blocks.3.attn.qkv`, `blocks.3.mlp.fc1`,
   * `patch_embed.proj`, `head`), `input` what went in (after `linearInput`), `output` the frozen
   * map's result. Returns the output to use (LoRA adds its low-rank update here; SSF scales and shifts).
   */
  linear?(name: string, input: tf.Tensor, output: tf.Tensor): tf.Tensor;
  /** After every non-linearity, named as timm names the module (`blocks.3.mlp.act`): returns the output to use. */
  activation?(name: string, output: tf.Tensor): tf.Tensor;
  /** After every LayerNorm (`blocks.3.norm1`, `norm`): returns the output to use. */
  norm?(name: string, output: tf.Tensor): tf.Tensor;
  /**
   * On each residual branch of block `layer` before it is added back: `branch` is `attn` or `mlp`,
   * `input` the block-level input of that branch (before its LayerNorm), `output` the branch's
   * result. Adapters (Houlsby, Pfeiffer, AdaptFormer) act here.
   */
  residual?(layer: number, branch: 'attn' | 'mlp', input: tf.Tensor, output: tf.Tensor): tf.Tensor;
  /** After the embeddings (CLS + patches + positions): VPT-shallow inserts its prompts here. */
  embeddings?(tokens: tf.Tensor): tf.Tensor;
  /** Before block `layer` runs: VPT-deep replaces its prompt tokens here. */
  beforeBlock?(layer: number, tokens: tf.Tensor): tf.Tensor;
}
