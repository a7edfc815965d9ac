// A step that overflows a backend's memory surfaces as a raw engine error (WASM: "memory access out
// of bounds" or "Aborted()"; V8: "Array buffer allocation failed"). The bench checks its budget
// before every real step, so these should not happen; when one still does, the user gets one
// sentence that names the step, its shapes and the budget instead of the engine's words alone.

const OUT_OF_MEMORY = [
  /memory access out of bounds/i,
  /^Aborted\(/,
  /out of memory/i,
  /Array buffer allocation failed/i,
  /Cannot enlarge memory/i,
];

/** A backend ran out of memory during a named step: the sentence of {@link guardMemory}. */
export class OutOfMemoryError extends Error {
  override name = 'OutOfMemoryError';
}

/** Whether an error is a backend's way of saying that it ran out of memory (not yet named by {@link guardMemory}). */
export function isOutOfMemory(err: unknown): boolean {
  if (err instanceof OutOfMemoryError) return false;
  const message = err instanceof Error ? err.message : String(err);
  return OUT_OF_MEMORY.some((re) => re.test(message));
}

/**
 * Runs `fn`; an out-of-memory error from it becomes one sentence naming `what` (the step and its
 * shapes) and the budget. Other errors pass unchanged.
 * @param what - the step and its shapes, in words ("a full fine-tuning step at ViT-B/16 512x512, batch 16")
 * @param budgetBytes - the memory budget the step was planned against
 * @param fn - the step
 */
export async function guardMemory<T>(what: string, budgetBytes: number, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!isOutOfMemory(err)) throw err;
    throw new OutOfMemoryError(
      `${what} ran out of the backend's memory (planned against a budget of ${(budgetBytes / 2 ** 20).toFixed(0)} MiB; ` +
        `the backend said: ${err instanceof Error ? err.message : String(err)}); lower --batch or set --micro-batch`,
      { cause: err },
    );
  }
}
