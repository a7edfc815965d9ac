/** A learning rate as a function of the 0-based iteration. */
export type LrSchedule = (iteration: number) => number;

/**
 * Half-cosine decay from `baseLr` to 0 over `totalSteps` iterations, no warm-up, updated every
 * iteration ([training recipe](../../../../docs/method.md#training-recipe)): lr(t) = baseLr * (1 + cos(pi * t / totalSteps)) / 2.
 */
export function cosineSchedule(baseLr: number, totalSteps: number): LrSchedule {
  if (!(totalSteps > 0)) throw new Error(`cosineSchedule: "totalSteps" must be positive, got ${totalSteps}`);
  return (t) => (baseLr * (1 + Math.cos((Math.PI * Math.min(t, totalSteps)) / totalSteps))) / 2;
}

/** A constant learning rate. */
export function constantSchedule(lr: number): LrSchedule {
  return () => lr;
}
