import * as tf from '@tensorflow/tfjs-core';
import { linear, Module, Rng } from '@fpt/core';
import { attached, clsToken, createVit, defineMethod, positiveInt, vitConfig, vitForward, type VitModel } from '@fpt/backbone-vit';
import { addDense } from '../layers';

/** Configuration of side-tuning (Zhang et al. 2020). */
export interface SideTuningConfig {
  /** Side ViT width; must be divisible by `heads`. */
  width: number;
  /** Side ViT depth. */
  depth: number;
  /** Side ViT heads. */
  heads: number;
  /** Initialisation seed. */
  seed: number;
}

/**
 * Side-tuning: a small side ViT (same patch size and resolution as the backbone) runs beside the
 * frozen backbone; its CLS features, projected to the backbone width, are blended with the
 * backbone's: alpha * base + (1 - alpha) * side, alpha = sigmoid(a) with a learnable a (initially
 * 0, so alpha = 0.5). Nothing is back-propagated through the backbone. Parameters `side.*` (timm
 * names), `proj.{weight,bias}`, `alpha`.
 */
export const sideTuning = defineMethod<SideTuningConfig>({
  name: 'side-tuning',
  description: "side-tuning: a small side ViT blended with the frozen backbone's features",
  defaults: { width: 96, depth: 4, heads: 4, seed: 0 },
  validate(c) {
    positiveInt(c.width, 'width', 'side-tuning');
    positiveInt(c.depth, 'depth', 'side-tuning');
    positiveInt(c.heads, 'heads', 'side-tuning');
    if (c.width % c.heads !== 0) throw new Error(`side-tuning: option "width" ${c.width} must be divisible by "heads" ${c.heads}`);
  },
  attach(backbone, c) {
    const { patchSize, imageSize, numChannels, hiddenSize } = backbone.config;
    const module = new Module();
    const side: VitModel = module.addModule(
      'side',
      createVit(
        vitConfig({ hiddenSize: c.width, numLayers: c.depth, numHeads: c.heads, patchSize, imageSize, numChannels, numClasses: 0 }),
        { seed: c.seed },
      ),
    );
    addDense(module, 'proj', hiddenSize, c.width, 'trunc', new Rng(c.seed + 1));
    module.addParameter('alpha', tf.zeros([1]));
    return attached(module, {
      backpropagatesThroughBackbone: false,
      capabilities: [
        { kind: 'exclusive', reason: 'it replaces the features the head reads with its own blend' },
        {
          kind: 'replacesFeatures',
          width: hiddenSize,
          features({ backbone: frozen, batch }) {
            // No gradient flows into the frozen backbone: each block's activations are freed as it ends.
            const base = clsToken(vitForward(frozen, batch.pixels, { head: false, tidyPerBlock: true }).features);
            const s = clsToken(vitForward(side, batch.pixels).features);
            const mixed = linear(s, module.get('proj.weight'), module.get('proj.bias'));
            const a = tf.sigmoid(module.get('alpha'));
            return tf.add(tf.mul(base, a), tf.mul(mixed, tf.sub(1, a)));
          },
        },
      ],
    });
  },
});
