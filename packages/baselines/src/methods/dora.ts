import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '@fpt/core';
import { attached, defineMethod, type VitModel } from '@fpt/backbone-vit';
import { mergeable } from '../merge';
import { lora, type LoraConfig } from './lora';

/** DoRA's configuration: LoRA's (rank, alpha, dropout, targets, qkv slices, seed), with LoRA's defaults. */
export type DoraConfig = LoraConfig;

/** One adapted weight: rows [offset, offset + out) of a linear layer, named as LoRA names its sites. */
interface Site {
  key: string;
  layer: string;
  offset: number;
  out: number;
}

// LoRA's documented parameter names say where each update acts: `<layer>.lora_A`, or
// `<layer>.q|k|v.lora_A` for a slice of a fused qkv projection.
function sitesOf(module: Module): Site[] {
  return module
    .namedParameters()
    .filter((p) => p.name.endsWith('.lora_A'))
    .map((p) => {
      const key = p.name.slice(0, -'.lora_A'.length);
      const out = module.get(`${key}.lora_B`).shape[0] as number;
      const [, qkv, part] = /^(.*attn\.qkv)\.([qkv])$/.exec(key) ?? [];
      return qkv && part ? { key, layer: qkv, offset: 'qkv'.indexOf(part) * out, out } : { key, layer: key, offset: 0, out };
    });
}

// LoRA's messages, under DoRA's name.
function asDora<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw new Error((err as Error).message.replace(/^lora:/, 'dora:'));
  }
}

// The value of x with no gradient through it: peft treats the norm ||W + BA|| as a constant in
// back-propagation (the DoRA paper, section 4.3), which saves memory and changes the gradient.
const detach = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  save([]);
  return { value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
}) as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;

/**
 * DoRA (Liu et al. 2024, peft's `use_dora`): each adapted weight is split into a magnitude and a
 * direction, W' = m * (W + s B A) / ||W + s B A||, the norm taken per output feature (the paper's
 * column norm of W in [in, out]) and treated as a constant in back-propagation, as peft does. The
 * direction's update is LoRA's (its defaults: rank 16 on the query and value slices, s = alpha / r),
 * and the magnitude `<site>.lora_magnitude_vector` [out] starts at ||W||, so training starts from
 * the backbone. Parameters: LoRA's plus one magnitude per output feature of each adapted weight.
 * Mergeable: W' is folded into the weights (biases unchanged).
 */
export const dora = defineMethod<DoraConfig>({
  name: 'dora',
  description: 'DoRA: LoRA on the direction of each adapted weight plus a learned magnitude per output feature',
  defaults: { ...lora.defaults, targets: [...lora.defaults.targets], qkvSlices: [...lora.defaults.qkvSlices] },
  validate: (c) => void asDora(() => lora(c)),
  attach(backbone: VitModel, c) {
    const inner = asDora(() => lora(c).attach(backbone));
    const module = inner.module;
    const sites = sitesOf(module);
    const scale = c.alpha / c.rank;
    // W + s B A on a site's rows [out, in].
    const direction = (s: Site) => {
      const w = tf.slice(backbone.get(`${s.layer}.weight`), [s.offset, 0], [s.out, -1]);
      return tf.add(w, tf.mul(tf.matMul(module.get(`${s.key}.lora_B`), module.get(`${s.key}.lora_A`)), scale));
    };
    const rowNorm = (w: tf.Tensor) => tf.sqrt(tf.sum(tf.square(w), 1));
    for (const s of sites)
      module.addParameter(
        `${s.key}.lora_magnitude_vector`,
        tf.tidy(() => rowNorm(direction(s))),
      );
    const byLayer = new Map<string, Site[]>();
    for (const s of sites)
      byLayer.set(
        s.layer,
        [...(byLayer.get(s.layer) ?? []), s].sort((a, b) => a.offset - b.offset),
      );
    // m / ||W + s B A|| per output row of a layer, 1 on rows no site adapts.
    const factor = (layer: string) => {
      const width = backbone.get(`${layer}.weight`).shape[0] as number;
      const parts: tf.Tensor[] = [];
      let at = 0;
      for (const s of byLayer.get(layer) ?? []) {
        if (s.offset > at) parts.push(tf.ones([s.offset - at]));
        parts.push(tf.div(module.get(`${s.key}.lora_magnitude_vector`), detach(rowNorm(direction(s)))));
        at = s.offset + s.out;
      }
      if (width > at) parts.push(tf.ones([width - at]));
      return parts.length === 1 ? parts[0]! : tf.concat(parts);
    };
    // Folding keeps each factor, so that unfolding undoes exactly what was folded.
    const folded = new Map<string, tf.Tensor>();
    const merge = mergeable('dora', (sign) => {
      for (const layer of byLayer.keys()) {
        const w = backbone.get(`${layer}.weight`);
        if (sign === 1) {
          const f = tf.tidy(() => factor(layer));
          tf.tidy(() => w.assign(tf.mul(tf.add(w, update(layer)), tf.expandDims(f, 1))));
          folded.set(layer, f);
        } else {
          const f = folded.get(layer)!;
          tf.tidy(() => w.assign(tf.sub(tf.div(w, tf.expandDims(f, 1)), update(layer))));
          f.dispose();
          folded.delete(layer);
        }
      }
    });
    // s B A of a layer's sites, at their rows of the full weight.
    const update = (layer: string) => {
      const rows = backbone.get(`${layer}.weight`).shape[0] as number;
      return tf.addN(
        (byLayer.get(layer) ?? []).map((s) =>
          tf.pad(tf.mul(tf.matMul(module.get(`${s.key}.lora_B`), module.get(`${s.key}.lora_A`)), scale), [
            [s.offset, rows - s.offset - s.out],
            [0, 0],
          ]),
        ),
      );
    };
    return attached(module, {
      capabilities: [merge],
      hooks: (ctx) => {
        const loraHooks = inner.hooks(ctx);
        return {
          linear(name, x, y) {
            if (!byLayer.has(name) || merge.isMerged()) return y;
            // LoRA's output x (W + s B A)^T + b, its direction rescaled row by row: m / ||W + s B A|| (x (W + s B A)^T) + b.
            const b = backbone.get(`${name}.bias`);
            return tf.add(tf.mul(tf.sub(loraHooks.linear!(name, x, y), b), factor(name)), b);
          },
        };
      },
      dispose: () => {
        tf.dispose([...folded.values()]);
        folded.clear();
      },
    });
  },
});
