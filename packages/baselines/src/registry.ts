import { MethodRegistry } from '@fpt/core';
import type { VitModel } from '@fpt/backbone-vit';
import type { BaselineMethod, MethodPart } from './part';
import { bitfit, fullFinetuning, linearProbe, lnTune } from './methods/simple';
import { lora } from './methods/lora';
import { adaptformer, houlsby, pfeiffer } from './methods/adapters';
import { vptDeep, vptShallow } from './methods/vpt';
import { ssf } from './methods/ssf';
import { sideTuning } from './methods/side-tuning';

/** Every baseline by name; `register` another `BaselineMethod` to extend it. */
export const baselineMethods = new MethodRegistry<VitModel, MethodPart>();

// One registration call per method.
const builtIn: Array<BaselineMethod<object>> = [
  fullFinetuning,
  linearProbe,
  bitfit,
  lnTune,
  lora as BaselineMethod<object>,
  houlsby as BaselineMethod<object>,
  pfeiffer as BaselineMethod<object>,
  adaptformer as BaselineMethod<object>,
  vptShallow as BaselineMethod<object>,
  vptDeep as BaselineMethod<object>,
  ssf as BaselineMethod<object>,
  sideTuning as BaselineMethod<object>,
];
for (const m of builtIn) baselineMethods.register(m);
