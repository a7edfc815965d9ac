/**
 * What one forward pass is: passed to every method's hooks on each call, so that nothing is set on
 * a method object between calls (dropout reads `training` and `seed` from here).
 */
export interface ForwardContext {
  /** Training mode: dropout and other training-only behaviour on. */
  readonly training: boolean;
  /** Seed of this call's random draws (dropout masks). */
  readonly seed: number;
  /** The optimisation step this call belongs to (0 outside training). */
  readonly step: number;
  /**
   * Index, in the step's whole batch, of this call's first image: 0 unless the call is one
   * micro-batch of a step that accumulates gradients. Dropout draws each image's mask from the
   * seed and the image's index in the whole batch, so micro-batches draw the whole batch's masks.
   */
  readonly sampleOffset?: number;
}

/** The context of an evaluation pass: no dropout, seed 0, step 0. */
export const EVAL: ForwardContext = Object.freeze({ training: false, seed: 0, step: 0 });

/**
 * A training context for step `step`: dropout on, seeded by the step (so a resumed run draws the
 * same masks as an uninterrupted one).
 * @param step - the optimisation step
 * @param seed - the run's seed, mixed with the step
 */
export function trainingContext(step: number, seed = 0): ForwardContext {
  return { training: true, seed: (Math.imul(seed + 1, 1_000_003) + step) >>> 0, step };
}
