import * as tf from '@tensorflow/tfjs-core';
import { dims, Module, normal, Rng } from '@fpt/core';
import { attached, defineMethod, numberIn } from '@fpt/backbone-vit';
import { mergeable } from '../merge';
import { linearLayers } from '../targets';

/** Configuration of SSF (Lian et al. 2022). */
export interface SsfConfig {
  /** Std of the scale's N(1, std^2) and the shift's N(0, std^2) initialisation. */
  initStd: number;
  /** Initialisation seed. */
  seed: number;
}

/**
 * SSF: a learnable scale and shift y * gamma + beta after the patch embedding (as the official SSF
 * code does), after every linear map and LayerNorm of the blocks, and after the final norm
 * (`<layer>.ssf_scale`, `<layer>.ssf_shift`). Mergeable into the preceding weights, so inference
 * costs nothing extra.
 */
export const ssf = defineMethod<SsfConfig>({
  name: 'ssf',
  description: 'SSF: scale and shift after the patch embedding and every linear map and LayerNorm',
  defaults: { initStd: 0.02, seed: 0 },
  validate: (c) => numberIn(c.initStd, 'initStd', 'ssf', { min: 0 }),
  attach(backbone, c) {
    const rng = new Rng(c.seed);
    const module = new Module();
    const sites = new Map<string, number>([['patch_embed.proj', backbone.config.hiddenSize]]);
    for (const [name, { out }] of linearLayers(backbone)) if (name.startsWith('blocks.')) sites.set(name, out);
    for (const p of backbone.namedParameters()) {
      const [, norm] = /^((?:blocks\.\d+\.)?norm\d?)\.weight$/.exec(p.name) ?? [];
      if (norm) sites.set(norm, dims(p.variable, ['D'], `ssf: ${p.name}`)[0]);
    }
    for (const [name, width] of sites) {
      module.addParameter(
        `${name}.ssf_scale`,
        tf.tidy(() => tf.add(normal([width], c.initStd, rng), 1)),
      );
      module.addParameter(`${name}.ssf_shift`, normal([width], c.initStd, rng));
    }
    // Folding: (x W^T + b) * g + s = x (g W)^T + (g b + s); LayerNorm and the patch convolution alike.
    const fold = (sign: 1 | -1) => {
      for (const name of sites.keys()) {
        tf.tidy(() => {
          const g = module.get(`${name}.ssf_scale`);
          const s = module.get(`${name}.ssf_shift`);
          const w = backbone.get(`${name}.weight`);
          const b = backbone.get(`${name}.bias`);
          const gw = tf.reshape(g, [-1, ...new Array<number>(w.rank - 1).fill(1)]);
          if (sign === 1) {
            w.assign(tf.mul(w, gw));
            b.assign(tf.add(tf.mul(b, g), s));
          } else {
            w.assign(tf.div(w, gw));
            b.assign(tf.div(tf.sub(b, s), g));
          }
        });
      }
    };
    const merge = mergeable('ssf', fold);
    const apply = (name: string, y: tf.Tensor) =>
      merge.isMerged() || !sites.has(name) ? y : tf.add(tf.mul(y, module.get(`${name}.ssf_scale`)), module.get(`${name}.ssf_shift`));
    return attached(module, {
      capabilities: [merge],
      hooks: () => ({ linear: (name, _x, y) => apply(name, y), norm: (name, y) => apply(name, y) }),
    });
  },
});
