import * as tf from '@tensorflow/tfjs-core';
import { normal, Rng, uniform } from '@fpt/core';

/** Configuration of FPT+'s fine-grained prompts. */
export interface FineGrainedPromptsConfig {
  /** One prompt set per fused LPM layer. */
  layers: number;
  /** Prompts per layer M (paper: 16). */
  prompts: number;
  /** Prompt width: the LPM width for FPT+ (768), the side width for FPT v1 (96). */
  dim: number;
  /** Standard deviation of the normal initialisation (paper: 1e-6). */
  std?: number;
  /** Seed of the initialisation. */
  seed?: number;
}

/**
 * FPT+'s fine-grained prompts: [layers, 1, prompts, dim] drawn from N(0, std^2), std 1e-6 by default.
 * The axis of size 1 broadcasts over the batch (all samples share the prompts), and matches the
 * authors' state-dict layout so their checkpoints load unchanged.
 * @returns a new tensor; pass it to `Module.addParameter`
 */
export function fineGrainedPrompts(config: FineGrainedPromptsConfig): tf.Tensor {
  check('fineGrainedPrompts', config.layers, config.prompts, config.dim);
  return normal([config.layers, 1, config.prompts, config.dim], config.std ?? 1e-6, new Rng(config.seed ?? 0));
}

/** Configuration of VPT prompt tokens. */
export interface VptPromptsConfig {
  /** 1 for VPT-shallow (prompts before the first block), the model depth for VPT-deep. */
  layers: number;
  /** Prompt tokens per layer. */
  prompts: number;
  /** Token width (the backbone's). */
  dim: number;
  /** The backbone's patch side, which sets VPT's Xavier-uniform bound. */
  patchSize: number;
  /** Seed of the initialisation. */
  seed?: number;
}

/**
 * VPT's prompt tokens [layers, prompts, dim], initialised uniformly in +-sqrt(6 / (3 p^2 + dim)) as
 * in the VPT paper (Xavier-uniform with the patch embedding's fan-in).
 * @returns a new tensor; pass it to `Module.addParameter`
 */
export function vptPrompts(config: VptPromptsConfig): tf.Tensor {
  check('vptPrompts', config.layers, config.prompts, config.dim);
  const bound = Math.sqrt(6 / (3 * config.patchSize * config.patchSize + config.dim));
  return uniform([config.layers, config.prompts, config.dim], bound, new Rng(config.seed ?? 0));
}

function check(fn: string, layers: number, prompts: number, dim: number): void {
  for (const [k, v] of [
    ['layers', layers],
    ['prompts', prompts],
    ['dim', dim],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${fn}: "${k}" must be a positive integer, got ${v}`);
  }
}

/**
 * The prompt tokens of one layer, broadcast over a batch: [layers, (1,) M, D] at `layer` -> [B, M, D].
 * @param prompts - a prompt bank from {@link fineGrainedPrompts} or {@link vptPrompts}
 * @param layer - which layer's prompts
 * @param batch - batch size B
 */
export function promptsForLayer(prompts: tf.Tensor, layer: number, batch: number): tf.Tensor {
  if (prompts.rank < 3) throw new Error(`promptsForLayer: prompts have shape [${prompts.shape}], expected [layers, (1,) M, D]`);
  const [m, d] = prompts.shape.slice(-2) as [number, number];
  const one = tf.reshape(tf.slice(prompts, [layer, ...new Array(prompts.rank - 1).fill(0)], [1, ...prompts.shape.slice(1)]), [1, m, d]);
  return batch === 1 ? one : tf.tile(one, [batch, 1, 1]);
}
