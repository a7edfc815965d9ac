import { Module } from '@fpt/core';
import { methodPart, type BaselineMethod, type MethodPart } from '../part';

function part(unfreeze: MethodPart['unfreeze']): MethodPart {
  return methodPart(new Module(), {}, { unfreeze, gradientsThroughBackbone: unfreeze.length > 0 });
}

/** Options of the methods that only choose which backbone parameters train (none). */
export type NoOptions = Record<string, never>;

/** Full fine-tuning: every backbone parameter trains, with a new head. */
export const fullFinetuning: BaselineMethod<NoOptions> = {
  name: 'full',
  description: 'full fine-tuning: every backbone parameter trains',
  defaults: {},
  apply: () => part([/.*/]),
};

/** Linear probing: only the new head trains. */
export const linearProbe: BaselineMethod<NoOptions> = {
  name: 'linear',
  description: 'linear probe: only the classifier head trains',
  defaults: {},
  apply: () => ({ ...part([]), gradientsThroughBackbone: false }),
};

/** BitFit (Ben Zaken et al. 2022): every bias of the backbone trains. */
export const bitfit: BaselineMethod<NoOptions> = {
  name: 'bitfit',
  description: 'BitFit: the backbone\'s biases train',
  defaults: {},
  apply: () => part([/^(?!head\.).*\.bias$/]),
};

/** LayerNorm tuning: the weight and bias of every LayerNorm train. */
export const lnTune: BaselineMethod<NoOptions> = {
  name: 'ln-tune',
  description: 'LayerNorm tuning: every LayerNorm\'s scale and shift train',
  defaults: {},
  apply: () => part([/(^|\.)norm\d?\.(weight|bias)$/]),
};
