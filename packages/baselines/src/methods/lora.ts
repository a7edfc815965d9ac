import * as tf from '@tensorflow/tfjs-core';
import { deriveSeed, dims, dropout, Module, Rng, uniform } from '@fpt/core';
import { attached, defineMethod, numberIn, positiveInt, type VitModel } from '@fpt/backbone-vit';
import { mergeable } from '../merge';
import { linearLayers, matchTargets } from '../targets';

/** The slices of a fused query/key/value projection. */
export type QkvSlice = 'q' | 'k' | 'v';

/** LoRA's configuration (Hu et al. 2022). */
export interface LoraConfig {
  /** Rank r of the update B A. */
  rank: number;
  /** The update is scaled by alpha / rank. */
  alpha: number;
  /** Dropout on the update's input during training. */
  dropout: number;
  /**
   * Linear layers to adapt, by peft's rules: names or dotted suffixes (`qkv` or `attn.qkv` match
   * every block's `blocks.N.attn.qkv`), or one `re:<regex>` matching whole names. The patch
   * embedding `patch_embed.proj` is one (a linear map over flattened patches), so `proj` matches
   * it as well as every `attn.proj`, as in peft.
   */
  targets: string[];
  /**
   * For a fused `qkv` projection: which slices get their own update, `['q', 'v']` (default: the
   * paper's "query and value") or `['qkv']` (one update of the whole projection). Same parameter
   * count, different functions; the config records which was used.
   */
  qkvSlices: Array<QkvSlice | 'qkv'>;
  /** Initialisation seed. */
  seed: number;
}

const SLICES: readonly string[] = ['q', 'k', 'v'];

/** One adapted weight: the rows [offset, offset + out) of a linear layer. */
interface Site {
  layer: string;
  key: string;
  offset: number;
  out: number;
}

/**
 * The linear maps LoRA can adapt: every linear layer of the blocks, and the patch embedding, a
 * linear map over flattened patches (its [out, C, p, p] kernel is [out, C p p] read row-major; peft
 * wraps the convolution the same way: A is a p x p convolution to r channels, B a 1 x 1 one).
 */
function adaptableLayers(backbone: VitModel): Map<string, { in: number; out: number }> {
  const [out, channels, p] = dims(backbone.get('patch_embed.proj.weight'), ['out', 'C', 'p', 'p'], 'lora: patch_embed.proj.weight');
  return new Map([['patch_embed.proj', { in: channels * p * p, out }], ...linearLayers(backbone)]);
}

function sites(backbone: VitModel, c: LoraConfig): Site[] {
  const layers = adaptableLayers(backbone);
  const out: Site[] = [];
  const whole = c.qkvSlices.length === 1 && c.qkvSlices[0] === 'qkv';
  for (const layer of matchTargets([...layers.keys()], c.targets, 'lora')) {
    const { out: width } = layers.get(layer)!;
    if (layer.endsWith('attn.qkv') && !whole) {
      const third = width / 3;
      for (const s of c.qkvSlices) out.push({ layer, key: `${layer}.${s}`, offset: SLICES.indexOf(s) * third, out: third });
    } else {
      out.push({ layer, key: layer, offset: 0, out: width });
    }
  }
  return out;
}

/**
 * The seed of LoRA's dropout mask at one site (a layer, or a q/k/v slice of it) in one call.
 * @param seed - the call's seed (`ForwardContext.seed`)
 * @param step - the call's step
 * @param site - the site's name (`blocks.3.attn.qkv.q`, `blocks.3.mlp.fc1`)
 */
export function loraMaskSeed(seed: number, step: number, site: string): number {
  return deriveSeed(seed, 'lora-dropout', step, site);
}

/**
 * LoRA: a low-rank update (alpha / r) B A added to each targeted linear map; A is initialised like
 * PyTorch's nn.Linear (uniform +-1/sqrt(in)), B with zeros, so training starts from the backbone.
 * Parameters `<site>.lora_A` [r, in] and `<site>.lora_B` [out, r], where a site is a layer name, or
 * `<layer>.q` / `.k` / `.v` for slices of a fused qkv; for the patch embedding `in` is C p p (the
 * flattened patch). Mergeable.
 */
export const lora = defineMethod<LoraConfig>({
  name: 'lora',
  description: 'LoRA: low-rank updates of the query and value projections',
  defaults: { rank: 16, alpha: 16, dropout: 0, targets: ['attn.qkv'], qkvSlices: ['q', 'v'], seed: 0 },
  validate(c) {
    positiveInt(c.rank, 'rank', 'lora');
    numberIn(c.alpha, 'alpha', 'lora', { min: 0, minExclusive: true });
    numberIn(c.dropout, 'dropout', 'lora', { min: 0, max: 1 });
    if (!Array.isArray(c.targets) || c.targets.length === 0) throw new Error('lora: option "targets" must name at least one layer');
    const s = c.qkvSlices as string[];
    const valid =
      (s.length === 1 && s[0] === 'qkv') || (s.length > 0 && s.every((x) => SLICES.includes(x)) && new Set(s).size === s.length);
    if (!valid) throw new Error(`lora: option "qkvSlices" must be "qkv" or distinct slices among q, k, v; got "${s.join(',')}"`);
  },
  attach(backbone, c) {
    const rng = new Rng(c.seed);
    const module = new Module();
    const bySite = sites(backbone, c);
    const layers = adaptableLayers(backbone);
    for (const s of bySite) {
      const inDim = layers.get(s.layer)!.in;
      module.addParameter(`${s.key}.lora_A`, uniform([c.rank, inDim], 1 / Math.sqrt(inDim), rng));
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
          return tf.pad(ba, [
            [s.offset, w.shape[0] - s.offset - s.out],
            [0, 0],
          ]);
        });
        return tf.addN(parts);
      });
    const merge = mergeable('lora', (sign) => {
      for (const layer of byLayer.keys()) {
        tf.tidy(() => {
          const w = backbone.get(`${layer}.weight`);
          // The patch embedding's kernel is [out, C, p, p]: the update [out, C p p] in its shape.
          w.assign(tf.add(w, tf.reshape(tf.mul(delta(layer), sign), w.shape)));
        });
      }
    });
    return attached(module, {
      capabilities: [merge],
      hooks: (ctx) => ({
        linear(name, x, y) {
          const here = byLayer.get(name);
          if (!here || merge.isMerged()) return y;
          const width = y.shape[y.rank - 1] as number;
          const rows = y.size / width;
          // Sites in output order, each update next to zeros over the columns no site covers, put
          // together in one concat (padding each update to the full width and summing kept two
          // or three full-width tensors at once).
          const pieces: tf.Tensor[] = [];
          let column = 0;
          for (const s of [...here].sort((a, b) => a.offset - b.offset)) {
            // One mask per site (q and v apart, as peft's separate query and value modules), its
            // seed hashed from the call's seed, the step and the site, so that no two sites or
            // steps share a mask; within it one per image, from the image's index in the whole
            // batch (micro-batches draw the whole batch's masks).
            const xin = dropout(x, c.dropout, ctx.training, loraMaskSeed(ctx.seed, ctx.step, s.key), {
              axis: 0,
              offset: ctx.sampleOffset ?? 0,
            });
            const flat = tf.reshape(xin, [-1, x.shape[x.rank - 1] as number]);
            // The scale multiplies the rank-r intermediate: backward then keeps [rows, r], not [rows, out].
            const h = tf.mul(tf.matMul(flat, module.get(`${s.key}.lora_A`), false, true), scale);
            if (s.offset > column) pieces.push(tf.zeros([rows, s.offset - column]));
            pieces.push(tf.matMul(h, module.get(`${s.key}.lora_B`), false, true));
            column = s.offset + s.out;
          }
          if (column < width) pieces.push(tf.zeros([rows, width - column]));
          const update = pieces.length === 1 ? pieces[0]! : tf.concat(pieces, 1);
          return tf.add(y, tf.reshape(update, y.shape));
        },
      }),
    });
  },
});
