import type { MethodRegistry } from '@fpt/backbone-vit';
import { adapterHoulsby, adapterPfeiffer, adaptFormer } from './methods/adapters';
import { dora } from './methods/dora';
import { ia3 } from './methods/ia3';
import { lora } from './methods/lora';
import { bitfit, full, linearProbe, lnTune } from './methods/selective';
import { sideTuning } from './methods/side-tuning';
import { ssf } from './methods/ssf';
import { vptDeep, vptShallow } from './methods/vpt';

/**
 * Registers every baseline by name (`full`, `linear`, `bitfit`, `ln-tune`, `lora`,
 * `adapter-houlsby`, `adapter-pfeiffer`, `adaptformer`, `vpt-shallow`, `vpt-deep`, `ssf`,
 * `side-tuning`, `dora`, `ia3`): one call per method. Names matter only to the CLI and to saved configs.
 * @param registry - the registry to fill
 * @returns the registry
 */
export function registerBaselines(registry: MethodRegistry): MethodRegistry {
  return registry
    .register(full)
    .register(linearProbe)
    .register(bitfit)
    .register(lnTune)
    .register(lora)
    .register(adapterHoulsby)
    .register(adapterPfeiffer)
    .register(adaptFormer)
    .register(vptShallow)
    .register(vptDeep)
    .register(ssf)
    .register(sideTuning)
    .register(dora)
    .register(ia3);
}
