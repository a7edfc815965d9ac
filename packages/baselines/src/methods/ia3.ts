import * as tf from '@tensorflow/tfjs-core';
import { Module } from '@fpt/core';
import { attached, defineMethod } from '@fpt/backbone-vit';
import { mergeable } from '../merge';
import { linearLayers, matchTargets } from '../targets';

/** (IA)³'s configuration (Liu et al. 2022, peft's `IA3Config`). */
export interface Ia3Config {
  /** Linear layers to scale, by peft's rules (names, dotted suffixes or one `re:<regex>`). */
  targets: string[];
  /** For a fused `qkv` projection: which slices' outputs are scaled (BERT's mapping: key and value). */
  qkvSlices: Array<'q' | 'k' | 'v'>;
  /** Targets whose input is scaled instead of their output (peft's `feedforward_modules`); each must be a target. */
  feedforward: string[];
}

const SLICES = ['q', 'k', 'v'] as const;

/** One learned scale: of a layer's output rows [offset, offset + size), or of its input. */
interface Site {
  key: string;
  layer: string;
  input: boolean;
  offset: number;
  size: number;
}

/**
 * (IA)³, as peft's IA3 with the BERT-family mapping that ViT shares: a learned vector rescales the
 * key and value outputs of attention and the input of the feed-forward output layer (`mlp.fc2`),
 * `<site>.ia3_l`, initialised to ones so training starts from the backbone. An output scale
 * multiplies the whole output, bias included; an input scale multiplies the input before the
 * weights (peft's forward). Mergeable: output scales fold into the weight rows and biases, input
 * scales into the weight columns.
 */
export const ia3 = defineMethod<Ia3Config>({
  name: 'ia3',
  description: '(IA)³: learned scaling of the key and value outputs and the feed-forward output layer input',
  defaults: { targets: ['attn.qkv', 'mlp.fc2'], qkvSlices: ['k', 'v'], feedforward: ['mlp.fc2'] },
  validate(c) {
    if (!Array.isArray(c.targets) || c.targets.length === 0) throw new Error('ia3: option "targets" must name at least one layer');
    const s = c.qkvSlices as string[];
    if (!(s.length > 0 && s.every((x) => (SLICES as readonly string[]).includes(x)) && new Set(s).size === s.length)) {
      throw new Error(`ia3: option "qkvSlices" must be distinct slices among q, k, v; got "${s.join(',')}"`);
    }
    const stray = c.feedforward.filter((f) => !c.targets.includes(f));
    if (stray.length)
      throw new Error(`ia3: option "feedforward" holds ${stray.join(', ')}, which "targets" does not: each must be a target`);
  },
  attach(backbone, c) {
    const layers = linearLayers(backbone);
    const targeted = matchTargets([...layers.keys()], c.targets, 'ia3');
    const feedforward = new Set(c.feedforward.length ? matchTargets(targeted, c.feedforward, 'ia3') : []);
    const sites: Site[] = [];
    for (const layer of targeted) {
      const shape = layers.get(layer)!;
      if (feedforward.has(layer)) sites.push({ key: layer, layer, input: true, offset: 0, size: shape.in });
      else if (layer.endsWith('attn.qkv')) {
        const third = shape.out / 3;
        for (const s of SLICES.filter((x) => c.qkvSlices.includes(x)))
          sites.push({ key: `${layer}.${s}`, layer, input: false, offset: SLICES.indexOf(s) * third, size: third });
      } else sites.push({ key: layer, layer, input: false, offset: 0, size: shape.out });
    }
    const module = new Module();
    for (const s of sites) module.addParameter(`${s.key}.ia3_l`, tf.ones([s.size]));
    const bySide = (input: boolean) => {
      const out = new Map<string, Site[]>();
      for (const s of sites.filter((x) => x.input === input)) out.set(s.layer, [...(out.get(s.layer) ?? []), s]);
      return out;
    };
    const [inputs, outputs] = [bySide(true), bySide(false)];
    // The scale of every output row of a layer: its sites' vectors, 1 on the other rows.
    const rowScale = (layer: string) => {
      const width = layers.get(layer)!.out;
      const parts: tf.Tensor[] = [];
      let at = 0;
      for (const s of outputs.get(layer)!) {
        if (s.offset > at) parts.push(tf.ones([s.offset - at]));
        parts.push(module.get(`${s.key}.ia3_l`));
        at = s.offset + s.size;
      }
      if (width > at) parts.push(tf.ones([width - at]));
      return parts.length === 1 ? parts[0]! : tf.concat(parts);
    };
    const inputScale = (layer: string) => {
      const [site] = inputs.get(layer) ?? [];
      if (!site) throw new Error(`ia3: layer "${layer}" has no input scale`);
      return module.get(`${site.key}.ia3_l`);
    };
    const merge = mergeable('ia3', (sign) => {
      tf.tidy(() => {
        if (sign === 1 && sites.some((s) => tf.any(tf.equal(module.get(`${s.key}.ia3_l`), 0)).dataSync()[0])) {
          throw new Error('ia3: cannot merge: a scale is 0, which unmerging could not undo');
        }
        const apply = (t: tf.Tensor, by: tf.Tensor) => (sign === 1 ? tf.mul(t, by) : tf.div(t, by));
        for (const layer of outputs.keys()) {
          const w = backbone.get(`${layer}.weight`);
          const b = backbone.get(`${layer}.bias`);
          const g = rowScale(layer);
          w.assign(apply(w, tf.expandDims(g, 1)));
          b.assign(apply(b, g));
        }
        for (const layer of inputs.keys()) {
          const w = backbone.get(`${layer}.weight`);
          w.assign(apply(w, tf.expandDims(inputScale(layer), 0)));
        }
      });
    });
    return attached(module, {
      capabilities: [merge],
      hooks: () => ({
        linearInput: (name, x) => (inputs.has(name) && !merge.isMerged() ? tf.mul(x, inputScale(name)) : x),
        linear: (name, _x, y) => (outputs.has(name) && !merge.isMerged() ? tf.mul(y, rowScale(name)) : y),
      }),
    });
  },
});
