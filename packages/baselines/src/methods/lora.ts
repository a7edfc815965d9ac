import * as tf from '@tensorflow/tfjs-core';
import { dropout, Module, Rng, uniform } from '@fpt/core';
import type { VitModel } from '@fpt/backbone-vit';
import { linearLayers, matchTargets, mergeControls, methodPart, positiveInt, type BaselineMethod, type MethodPart } from '../part';

/** LoRA's configuration (Hu et al. 2022). */
export interface LoraConfig {
  /** Rank r of the update B A. */
  rank: number;
  /** The update is scaled by alpha / rank. */
  alpha: number;
  /** Dropout on the update's input during training. */
  dropout: number;
  /**
   * Linear layers to adapt, by peft's rules: names or dotted suffixes (`attn.qkv` matches every
   * block's `blocks.N.attn.qkv`), or one `re:<regex>` matching whole names.
   */
  targets: string[];
  /**
   * For a fused `qkv` projection: which slices get their own update. `q,v` (default: the paper's
   * "query and value") or `qkv` (one update of the whole projection). The two have the same
   * parameter count but are different functions; the config records which was used.
   */
  qkvSlices: string[];
  /** Initialisation seed. */
  seed: number;
}

const SLICES = ['q', 'k', 'v'] as const;

/** One adapted weight: the rows [offset, offset + out) of a linear layer. */
interface Site {
  layer: string;
  key: string;
  offset: number;
  out: number;
}

function sites(backbone: VitModel, c: LoraConfig): Site[] {
  const layers = linearLayers(backbone);
  const names = matchTargets([...layers.keys()], c.targets, 'lora');
  const out: Site[] = [];
  for (const layer of names) {
    const { out: width } = layers.get(layer)!;
    const fused = layer.endsWith('attn.qkv');
    if (fused && !(c.qkvSlices.length === 1 && c.qkvSlices[0] === 'qkv')) {
      const third = width / 3;
      for (const s of c.qkvSlices) out.push({ layer, key: `${layer}.${s}`, offset: SLICES.indexOf(s as 'q') * third, out: third });
    } else {
      out.push({ layer, key: layer, offset: 0, out: width });
    }
  }
  return out;
}

function validate(c: LoraConfig): void {
  positiveInt(c.rank, 'rank', 'lora');
  if (!(c.alpha > 0)) throw new Error(`lora: option "alpha" must be positive, got ${c.alpha}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`lora: option "dropout" must be in [0, 1), got ${c.dropout}`);
  const s = c.qkvSlices;
  const valid = (s.length === 1 && s[0] === 'qkv') || (s.length > 0 && s.every((x) => (SLICES as readonly string[]).includes(x)) && new Set(s).size === s.length);
  if (!valid) throw new Error(`lora: option "qkvSlices" must be "qkv" or distinct slices among q, k, v; got "${s.join(',')}"`);
}

/**
 * LoRA: a low-rank update (alpha / r) B A added to each targeted linear map; A is initialised like
 * PyTorch's nn.Linear (uniform +-1/sqrt(in)), B with zeros, so training starts from the backbone.
 * Parameters `<site>.lora_A` [r, in] and `<site>.lora_B` [out, r], where a site is a layer name, or
 * `<layer>.q` / `.k` / `.v` for slices of a fused qkv. Mergeable.
 */
export const lora: BaselineMethod<LoraConfig> = {
  name: 'lora',
  description: 'LoRA: low-rank updates of the query and value projections',
  defaults: { rank: 16, alpha: 16, dropout: 0, targets: ['attn.qkv'], qkvSlices: ['q', 'v'], seed: 0 },
  apply(backbone, c) {
    validate(c);
    const rng = new Rng(c.seed);
    const module = new Module();
    const bySite = sites(backbone, c);
    const inDim = (layer: string) => linearLayers(backbone).get(layer)!.in;
    for (const s of bySite) {
      module.addParameter(`${s.key}.lora_A`, uniform([c.rank, inDim(s.layer)], 1 / Math.sqrt(inDim(s.layer)), rng));
      module.addParameter(`${s.key}.lora_B`, tf.zeros([s.out, c.rank]));
    }
    const scale = c.alpha / c.rank;
    const byLayer = new Map<string, Site[]>();
    for (const s of bySite) byLayer.set(s.layer, [...(byLayer.get(s.layer) ?? []), s]);
    // The full-width update of one layer: [out, in] = sum over sites of B A, placed at its rows.
    const delta = (layer: string) =>
      tf.tidy(() => {
        const w = backbone.get(`${layer}.weight`);
        const parts = (byLayer.get(layer) ?? []).map((s) => {
          const ba = tf.mul(tf.matMul(module.get(`${s.key}.lora_B`), module.get(`${s.key}.lora_A`)), scale);
          return tf.pad(ba, [[s.offset, w.shape[0] - s.offset - s.out], [0, 0]]);
        });
        return tf.addN(parts);
      });
    const { merged, merge, unmerge } = mergeControls('lora', (sign) => {
      for (const layer of byLayer.keys()) {
        const d = delta(layer);
        tf.tidy(() => backbone.get(`${layer}.weight`).assign(tf.add(backbone.get(`${layer}.weight`), tf.mul(d, sign))));
        d.dispose();
      }
    });
    const part: MethodPart = methodPart(
      module,
      {
        linear(name, x, y) {
          const here = byLayer.get(name);
          if (!here || merged()) return y;
          const xin = dropout(x, c.dropout, part.training);
          const width = y.shape[y.rank - 1] as number;
          const updates = here.map((s) => {
            const u = tf.mul(tf.matMul(tf.matMul(tf.reshape(xin, [-1, x.shape[x.rank - 1] as number]), module.get(`${s.key}.lora_A`), false, true), module.get(`${s.key}.lora_B`), false, true), scale);
            return tf.pad(u, [[0, 0], [s.offset, width - s.offset - s.out]]);
          });
          return tf.add(y, tf.reshape(updates.length === 1 ? updates[0] : tf.addN(updates), y.shape));
        },
      },
      { mergeable: true, merge, unmerge },
    );
    return part;
  },
};
