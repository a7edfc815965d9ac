import { Module } from '@fpt/core';
import { attached, defineMethod } from '@fpt/backbone-vit';

/** Options of the methods that only choose which backbone parameters train (none). */
export type NoOptions = Record<string, never>;

/**
 * Full fine-tuning: every backbone parameter trains; the backbone's own classifier is dropped
 * (neither trained nor counted), the new head replaces it.
 */
export const full = defineMethod<NoOptions>({
  name: 'full',
  description: 'full fine-tuning: every backbone parameter trains',
  defaults: {},
  attach: () =>
    attached(new Module(), {
      unfreeze: [/^(?!head\.).*/],
      capabilities: [{ kind: 'exclusive', reason: 'it trains every parameter already' }, { kind: 'replacesHead' }],
    }),
});

/** Linear probing: only the new head trains. */
export const linearProbe = defineMethod<NoOptions>({
  name: 'linear',
  description: 'linear probe: only the classifier head trains',
  defaults: {},
  attach: () => attached(new Module(), { backpropagatesThroughBackbone: false }),
});

/** BitFit (Ben Zaken et al. 2022): every bias of the backbone trains. */
export const bitfit = defineMethod<NoOptions>({
  name: 'bitfit',
  description: "BitFit: the backbone's biases train",
  defaults: {},
  attach: () => attached(new Module(), { unfreeze: [/^(?!head\.).*\.bias$/] }),
});

/** The names of every LayerNorm's scale and shift (`blocks.N.norm1`, `norm2`, the final `norm`). */
export const LAYER_NORMS = /(^|\.)norm\d?\.(weight|bias)$/;

/** LayerNorm tuning: the weight and bias of every LayerNorm train. */
export const lnTune = defineMethod<NoOptions>({
  name: 'ln-tune',
  description: "LayerNorm tuning: every LayerNorm's scale and shift train",
  defaults: {},
  attach: () => attached(new Module(), { unfreeze: [LAYER_NORMS] }),
});
