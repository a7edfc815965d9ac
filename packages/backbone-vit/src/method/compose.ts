import type * as tf from '@tensorflow/tfjs-core';
import type { VitHooks } from '../hooks';

/**
 * Chains several methods' hooks: each hook point applies the methods' hooks in order, every one
 * seeing the previous one's output. This is how LoRA and VPT (or any methods acting at different
 * points) combine on one backbone.
 */
export function composeHooks(list: VitHooks[]): VitHooks {
  const pick = <K extends keyof VitHooks>(k: K) => list.map((h) => h[k]).filter((f): f is NonNullable<VitHooks[K]> => !!f);
  const linear = pick('linear');
  const norm = pick('norm');
  const residual = pick('residual');
  const embeddings = pick('embeddings');
  const beforeBlock = pick('beforeBlock');
  const out: VitHooks = {};
  if (linear.length) out.linear = (name, x, y) => linear.reduce((acc, f) => f(name, x, acc), y);
  if (norm.length) out.norm = (name, y) => norm.reduce((acc, f) => f(name, acc), y);
  if (residual.length) out.residual = (l, b, x, y) => residual.reduce((acc, f) => f(l, b, x, acc), y);
  if (embeddings.length) out.embeddings = (t: tf.Tensor) => embeddings.reduce((acc, f) => f(acc), t);
  if (beforeBlock.length) out.beforeBlock = (l, t) => beforeBlock.reduce((acc, f) => f(l, acc), t);
  return out;
}
