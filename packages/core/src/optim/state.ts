// AdamW's state by parameter name, beside the weights' state dict: `m.<name>` and `v.<name>` per
// variable that has moments, the step and learning rate as string metadata. One format for the
// library's resume API and the bench's checkpoints; loading checks everything before the
// optimizer changes.
import type { TensorEntry } from '../safetensors/read';
import type { WritableTensor } from '../safetensors/write';
import type { AdamWState } from './adamw';

/** The format tag of {@link adamwStateDict}'s metadata. */
export const ADAMW_STATE_FORMAT = 'fpt-adamw/1';

/** An optimizer's state as named tensors and string metadata: what a safetensors file stores. */
export interface OptimizerStateDict {
  /** `m.<name>` and `v.<name>` (the first and second moments) of each variable that has them. */
  tensors: Record<string, WritableTensor>;
  /** `format` ({@link ADAMW_STATE_FORMAT}), `step` and `learningRate`, as strings. */
  metadata: Record<string, string>;
}

/**
 * AdamW's state (from `AdamW.state()` or `stateAsync()`) by parameter name.
 * @param state - the optimizer's state
 * @param params - name and shape of each of the optimizer's variables, in its order
 * @throws when the names do not match the state's variables one for one
 */
export function adamwStateDict(state: AdamWState, params: ReadonlyArray<{ name: string; shape: readonly number[] }>): OptimizerStateDict {
  if (params.length !== state.moments.length)
    throw new Error(`adamwStateDict: ${params.length} names for an optimizer over ${state.moments.length} variables`);
  const tensors: Record<string, WritableTensor> = {};
  params.forEach((param, i) => {
    const slot = state.moments[i];
    if (!slot) return;
    const shape = [...param.shape];
    tensors[`m.${param.name}`] = { dtype: 'float32', shape, data: slot.m };
    tensors[`v.${param.name}`] = { dtype: 'float32', shape, data: slot.v };
  });
  return {
    tensors,
    metadata: { format: ADAMW_STATE_FORMAT, step: String(state.step), learningRate: String(state.learningRate) },
  };
}

/**
 * Reads {@link adamwStateDict}'s tensors and metadata back into an `AdamWState` for `AdamW.loadState`.
 * Checks the format, the step and learning rate, that no tensor is unknown, that each variable has
 * both moments or neither, their shapes, and that every value is finite.
 * @param tensors - the stored tensors by name (a safetensors file's entries)
 * @param metadata - the stored metadata
 * @param params - name and shape of each of the optimizer's variables, in its order
 * @param source - names the file in errors
 * @throws naming the source and the tensor or field at fault
 */
export function adamwStateFromDict(
  tensors: ReadonlyMap<string, TensorEntry | WritableTensor>,
  metadata: Readonly<Record<string, string | undefined>>,
  params: ReadonlyArray<{ name: string; shape: readonly number[] }>,
  source = 'optimizer state',
): AdamWState {
  if (metadata.format !== ADAMW_STATE_FORMAT)
    throw new Error(`${source}: metadata "format" must be "${ADAMW_STATE_FORMAT}", got ${JSON.stringify(metadata.format)}`);
  const step = Number(metadata.step);
  const learningRate = Number(metadata.learningRate);
  if (!Number.isInteger(step) || step < 0)
    throw new Error(`${source}: metadata "step" must be a non-negative integer, got ${JSON.stringify(metadata.step)}`);
  if (!Number.isFinite(learningRate))
    throw new Error(`${source}: metadata "learningRate" must be a number, got ${JSON.stringify(metadata.learningRate)}`);
  const known = new Set(params.flatMap((p) => [`m.${p.name}`, `v.${p.name}`]));
  const unexpected = [...tensors.keys()].filter((n) => !known.has(n));
  if (unexpected.length) throw new Error(`${source}: unexpected tensor(s): ${unexpected.slice(0, 8).join(', ')}`);
  const moments = params.map(({ name, shape }) => {
    const [m, v] = [tensors.get(`m.${name}`), tensors.get(`v.${name}`)];
    if (!m !== !v) throw new Error(`${source}: "m.${name}" and "v.${name}" must both be present or both absent`);
    if (!m || !v) return null;
    const out = { m: Float32Array.from(m.data), v: Float32Array.from(v.data) };
    for (const [key, e, data] of [
      [`m.${name}`, m, out.m],
      [`v.${name}`, v, out.v],
    ] as const) {
      if (e.shape.join() !== shape.join()) throw new Error(`${source}: "${key}" has shape [${e.shape}], expected [${shape}]`);
      const bad = data.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0) throw new Error(`${source}: "${key}" holds ${data[bad]} at index ${bad}; expected finite values`);
    }
    return out;
  });
  return { step, learningRate, moments };
}
