// The one state path. Parameters' values travel between variables and files as a `StateDict`
// (host data by name, what a safetensors file holds): `stateDict` reads them, `loadStateDict`
// loads them back through `loadParameters`, whose checks (every key, shape, dtype, finite values)
// all happen before anything is assigned. A module's weights, an adapted model's file and the
// bench's checkpoints all go this way; AdamW's moments follow in `optim/state.ts`.
import * as tf from '@tensorflow/tfjs-core';
import { loadParameters, type LoadStateOptions, type LoadStateReport } from './module';
import { runReads, runReadsAsync, type Reads } from './reads';
import type { TensorEntry } from './safetensors/read';
import type { WritableTensor } from './safetensors/write';

/** A variable and its full dotted name (`Module.namedParameters`, `AdaptedModel.namedVariables`). */
export interface NamedVariable {
  /** Full dotted name, as in checkpoints. */
  name: string;
  /** The live variable. */
  variable: tf.Variable;
}

/** Parameter values on the host by name: what {@link stateDict} reads and a safetensors file stores. */
export type StateDict = Record<string, WritableTensor>;

/** Host values by name, as a safetensors file's entries or a {@link StateDict} hold them. */
export type HostState = ReadonlyMap<string, TensorEntry | WritableTensor> | Readonly<Record<string, TensorEntry | WritableTensor>>;

/**
 * Copies the variables' values to the host, by name, reading with `dataSync()` (CPU and WASM).
 * @param params - the variables to read, by full name
 * @returns copies: later training does not change them
 */
export function stateDict(params: readonly NamedVariable[]): StateDict {
  return runReads(stateBody(params));
}

/**
 * {@link stateDict} reading with `await data()`: the same copies, on every backend (WebGPU included).
 * @param params - the variables to read, by full name
 */
export function stateDictAsync(params: readonly NamedVariable[]): Promise<StateDict> {
  return runReadsAsync(stateBody(params));
}

function* stateBody(params: readonly NamedVariable[]): Reads<StateDict> {
  const out: StateDict = {};
  for (const { name, variable } of params) {
    if (out[name]) throw new Error(`stateDict: two variables are named "${name}"`);
    const values = yield variable;
    const dtype = variable.dtype === 'int32' ? 'int32' : 'float32';
    out[name] = {
      dtype,
      shape: [...variable.shape],
      data: dtype === 'int32' ? Int32Array.from(values as Int32Array) : Float32Array.from(values as Float32Array),
    };
  }
  return out;
}

/**
 * Loads host values (a safetensors file's entries, a {@link StateDict}) into variables: each entry
 * becomes a tensor only after its element count matches its shape, then {@link loadParameters}
 * checks every key, shape, dtype and value before anything is assigned. A load that throws
 * changes nothing.
 * @param params - the variables to fill, by full name
 * @param state - the values by name
 * @param options - strictness (default strict), the source and caller named in errors, non-finite values
 * @throws naming the key (and the source) and what was expected and found
 */
export function loadStateDict(
  params: readonly NamedVariable[],
  state: HostState,
  options: LoadStateOptions & { label?: string } = {},
): LoadStateReport {
  const label = options.label ?? 'loadStateDict';
  const where = options.source ? ` (${options.source})` : '';
  const entries: Array<[string, TensorEntry | WritableTensor]> =
    state instanceof Map ? [...state.entries()] : Object.entries(state as Record<string, TensorEntry | WritableTensor>);
  const wanted = options.strict === false ? new Set(params.map((p) => p.name)) : undefined;
  const values = new Map<string, tf.Tensor>();
  try {
    for (const [name, e] of entries) {
      // Non-strict loads skip what no variable wants without making a tensor of it.
      if (wanted && !wanted.has(name)) {
        values.set(name, tf.scalar(0));
        continue;
      }
      const size = e.shape.reduce((a: number, d: number) => a * d, 1);
      if (e.data.length !== size)
        throw new Error(`${label}${where}: key "${name}" holds ${e.data.length} values, its shape [${e.shape}] needs ${size}`);
      values.set(name, tf.tensor(e.data as Float32Array, e.shape, e.dtype));
    }
    return loadParameters(params, values, { ...options, label });
  } finally {
    tf.dispose([...values.values()]);
  }
}
