import type { MethodRegistry } from '@fpt/backbone-vit';
import { fptPlus, fptV1 } from './model';

/**
 * Registers FPT+ (`fpt-plus`) and FPT v1 (`fpt`) by name. Their configurations are plain data: the
 * registry turns `--set` strings and saved configs into them, side methods included (resolved
 * through the same registry).
 * @param registry - the registry to fill
 * @returns the registry
 */
export function registerFpt(registry: MethodRegistry): MethodRegistry {
  return registry.register(fptPlus).register(fptV1);
}
