import type { MethodRegistry, SavedMethod } from '@fpt/backbone-vit';
import { getSelector, type SelectorFingerprint } from '@fpt/token-select';
import { fptPlus, fptV1 } from './model';

// A saved FPT config holds the selector's fingerprint and the side methods as { name, config }:
// turn them back into objects.
function reviveFpt(config: Record<string, unknown>, registry: MethodRegistry): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  const sel = config.selector as SelectorFingerprint | undefined;
  if (sel !== undefined) {
    if (typeof sel?.name !== 'string')
      throw new Error(`FPT config: "selector" must be a selector fingerprint {name, version, params}, got ${JSON.stringify(sel)}`);
    const selector = getSelector(sel.name, typeof sel.params?.seed === 'number' ? sel.params.seed : 0);
    if (selector.fingerprint.version !== sel.version) {
      throw new Error(
        `FPT config: selector "${sel.name}" was saved at version ${sel.version}, this build has version ${selector.fingerprint.version}`,
      );
    }
    out.selector = selector;
  }
  if (config.sideMethods !== undefined) {
    if (!Array.isArray(config.sideMethods)) throw new Error('FPT config: "sideMethods" must be a list');
    out.sideMethods = (config.sideMethods as SavedMethod[]).map((m) => registry.revive(m));
  }
  return out;
}

/**
 * Registers FPT+ (`fpt-plus`) and FPT v1 (`fpt`) by name, with what turns their saved configs back
 * into options. Side methods in saved configs are resolved through the same registry.
 * @param registry - the registry to fill
 * @returns the registry
 */
export function registerFpt(registry: MethodRegistry): MethodRegistry {
  return registry.register(fptPlus, reviveFpt).register(fptV1, reviveFpt);
}
