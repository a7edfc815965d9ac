import * as tf from '@tensorflow/tfjs-core';
import { Module, normal, Rng } from '@fpt/core';
import { linearLayers, mergeControls, methodPart, type BaselineMethod } from '../part';

/** Configuration of SSF (Lian et al. 2022). */
export interface SsfConfig {
  /** Std of the scale's N(1, std^2) and the shift's N(0, std^2) initialisation. */
  initStd: number;
  /** Initialisation seed. */
  seed: number;
}

/**
 * SSF: a learnable scale and shift after every linear map and LayerNorm of the blocks and the final
 * norm, y * gamma + beta (`<layer>.ssf_scale`, `<layer>.ssf_shift`). Mergeable into the preceding
 * weights, so inference costs nothing extra.
 */
export const ssf: BaselineMethod<SsfConfig> = {
  name: 'ssf',
  description: 'SSF: scale and shift after every linear map and LayerNorm',
  defaults: { initStd: 0.02, seed: 0 },
  apply(backbone, c) {
    if (!(c.initStd >= 0)) throw new Error(`ssf: option "initStd" must be non-negative, got ${c.initStd}`);
    const rng = new Rng(c.seed);
    const module = new Module();
    const sites = new Map<string, number>();
    for (const [name, { out }] of linearLayers(backbone)) if (name.startsWith('blocks.')) sites.set(name, out);
    for (const p of backbone.namedParameters()) {
      const m = /^((?:blocks\.\d+\.)?norm\d?)\.weight$/.exec(p.name);
      if (m) sites.set(m[1], p.variable.shape[0]);
    }
    for (const [name, width] of sites) {
      module.addParameter(`${name}.ssf_scale`, tf.tidy(() => tf.add(normal([width], c.initStd, rng), 1)));
      module.addParameter(`${name}.ssf_shift`, normal([width], c.initStd, rng));
    }
    const apply = (name: string, y: tf.Tensor) =>
      controls.merged() || !sites.has(name) ? y : tf.add(tf.mul(y, module.get(`${name}.ssf_scale`)), module.get(`${name}.ssf_shift`));
    // Folding: (x W^T + b) * g + s = x (g W)^T + (g b + s); LayerNorm the same with its affine.
    const fold = (sign: 1 | -1) => {
      for (const name of sites.keys()) {
        tf.tidy(() => {
          const g = module.get(`${name}.ssf_scale`);
          const s = module.get(`${name}.ssf_shift`);
          const w = backbone.get(`${name}.weight`);
          const b = backbone.get(`${name}.bias`);
          const gw = w.rank === 2 ? tf.reshape(g, [-1, 1]) : g;
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
    const controls = mergeControls('ssf', fold);
    const part = methodPart(module, { linear: (name, _x, y) => apply(name, y), norm: (name, y) => apply(name, y) }, {
      mergeable: true,
      merge: controls.merge,
      unmerge: controls.unmerge,
    });
    return part;
  },
};
