import type * as tf from '@tensorflow/tfjs-core';
import type { VitHooks } from '../hooks';

// Every hook point has the same form (see VitHooks): where it is, then the tensor it transforms.
type AnyHook = (...args: unknown[]) => tf.Tensor;

/**
 * Chains several methods' hooks: each hook point applies the methods' hooks in order, every one
 * seeing the previous one's output. This is how LoRA and VPT (or any methods acting at different
 * points) combine on one backbone. Generic over the hook points: whatever point a method sets is
 * chained, by the rule that a hook's last argument is the tensor it returns a replacement for.
 */
export function composeHooks(list: VitHooks[]): VitHooks {
  const byPoint = new Map<string, AnyHook[]>();
  for (const hooks of list) {
    for (const [point, f] of Object.entries(hooks)) {
      if (typeof f === 'function') byPoint.set(point, [...(byPoint.get(point) ?? []), f as AnyHook]);
    }
  }
  const out: Record<string, AnyHook> = {};
  for (const [point, fs] of byPoint) {
    out[point] =
      fs.length === 1
        ? fs[0]!
        : (...args: unknown[]) => {
            const where = args.slice(0, -1);
            return fs.reduce((acc, f) => f(...where, acc), args[args.length - 1] as tf.Tensor);
          };
  }
  return out as VitHooks;
}
