import * as tf from '@tensorflow/tfjs-core';
import { readsSync } from './webgpu';

/** One named parameter of a {@link Module}: its dotted name, the variable and whether it trains. */
export interface NamedParameter {
  /** Dotted, checkpoint-compatible name, e.g. `blocks.0.attn.qkv.weight`. */
  name: string;
  /** The variable holding the value. */
  variable: tf.Variable;
  /** Whether an optimizer should update it (and gradients be taken for it). */
  trainable: boolean;
}

/**
 * A name pattern selecting parameters. A `RegExp` is tested against the full dotted name. A string
 * containing `*` is a glob where `*` matches any run of characters (dots included). Any other string
 * matches that exact name or every name below it as a dotted prefix (`blocks.0` matches
 * `blocks.0.attn.qkv.weight` but not `blocks.10.norm1.weight`).
 */
export type NamePattern = string | RegExp;

/** Options of {@link Module.loadState}. */
export interface LoadStateOptions {
  /** Throw when a parameter is missing from the state or the state holds an unknown key. Default true. */
  strict?: boolean;
  /** Names the source of the state in error messages (a file path, say). */
  source?: string;
  /**
   * Accept values holding NaN or ±Infinity. Default false: such weights are refused, naming the
   * key, since one non-finite weight silently turns every output into NaN.
   */
  allowNonFinite?: boolean;
}

/** What {@link Module.loadState} did: keys it could not use and parameters it could not fill. */
export interface LoadStateReport {
  /** Parameters of the module that the state did not provide. */
  missing: string[];
  /** Keys of the state that name no parameter of the module. */
  unexpected: string[];
  /** Parameters that were assigned. */
  loaded: string[];
}

/** Turns a {@link NamePattern} into a predicate over dotted names. */
export function nameMatcher(pattern: NamePattern): (name: string) => boolean {
  if (pattern instanceof RegExp) return (name) => pattern.test(name);
  if (pattern.includes('*')) {
    const escaped = pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
    const re = new RegExp(`^${escaped.join('.*')}$`);
    return (name) => re.test(name);
  }
  return (name) => name === pattern || name.startsWith(`${pattern}.`);
}

interface Slot {
  variable: tf.Variable;
  trainable: boolean;
}

/**
 * A parameter tree: named `tf.Variable`s with dotted names, and child modules whose parameters
 * appear under `<child>.<name>`. Forward computation lives in plain functions over tensors; a
 * Module only owns, names, freezes and (de)serialises the weights.
 *
 * Variables are created without tfjs names, so any number of modules can coexist.
 */
export class Module {
  private readonly own = new Map<string, Slot>();
  private readonly children = new Map<string, Module>();

  /**
   * Registers a parameter. The module takes ownership of `value` (it becomes the variable's
   * initial value and is disposed with the module).
   * @param name - name relative to this module, dotted segments allowed
   * @param value - initial value
   * @param trainable - whether the parameter trains (default true)
   * @returns the created variable
   */
  addParameter(name: string, value: tf.Tensor, trainable = true): tf.Variable {
    if (!name || name.startsWith('.') || name.endsWith('.')) {
      throw new Error(`Module.addParameter: invalid parameter name "${name}"`);
    }
    if (this.own.has(name) || this.findChildFor(name)) {
      throw new Error(`Module.addParameter: a parameter named "${name}" already exists`);
    }
    const variable = tf.variable(value, trainable);
    value.dispose();
    this.own.set(name, { variable, trainable });
    return variable;
  }

  /**
   * Attaches a child module whose parameters appear as `<prefix>.<name>`.
   * @param prefix - the child's name in this tree
   * @param child - the module to attach
   * @returns the child, for chaining
   */
  addModule<M extends Module>(prefix: string, child: M): M {
    if (this.children.has(prefix)) throw new Error(`Module.addModule: a child named "${prefix}" already exists`);
    this.children.set(prefix, child);
    return child;
  }

  /** The child module registered under `prefix`, if any. */
  module(prefix: string): Module | undefined {
    return this.children.get(prefix);
  }

  private findChildFor(name: string): [Module, string] | undefined {
    for (const [prefix, child] of this.children) {
      if (name.startsWith(`${prefix}.`)) return [child, name.slice(prefix.length + 1)];
    }
    return undefined;
  }

  /** Whether the tree holds a parameter of that full dotted name. */
  has(name: string): boolean {
    if (this.own.has(name)) return true;
    const hit = this.findChildFor(name);
    return hit ? hit[0].has(hit[1]) : false;
  }

  /**
   * The variable of that full dotted name.
   * @throws an error naming the parameter when there is none
   */
  get(name: string): tf.Variable {
    const slot = this.slot(name);
    if (!slot) throw new Error(`Module: no parameter named "${name}"`);
    return slot.variable;
  }

  private slot(name: string): Slot | undefined {
    const mine = this.own.get(name);
    if (mine) return mine;
    const hit = this.findChildFor(name);
    return hit ? hit[0].slot(hit[1]) : undefined;
  }

  /** Every parameter of the tree, own ones first, then each child's in registration order. */
  namedParameters(): NamedParameter[] {
    const out: NamedParameter[] = [];
    for (const [name, slot] of this.own) out.push({ name, variable: slot.variable, trainable: slot.trainable });
    for (const [prefix, child] of this.children) {
      for (const p of child.namedParameters()) out.push({ ...p, name: `${prefix}.${p.name}` });
    }
    return out;
  }

  /** The trainable variables, in {@link Module.namedParameters} order. */
  trainableVariables(): tf.Variable[] {
    return this.namedParameters()
      .filter((p) => p.trainable)
      .map((p) => p.variable);
  }

  /** Whether the named parameter trains. */
  isTrainable(name: string): boolean {
    const slot = this.slot(name);
    if (!slot) throw new Error(`Module: no parameter named "${name}"`);
    return slot.trainable;
  }

  private setTrainable(pattern: NamePattern | undefined, trainable: boolean): number {
    const match = pattern === undefined ? () => true : nameMatcher(pattern);
    let count = 0;
    for (const p of this.namedParameters()) {
      if (!match(p.name)) continue;
      const slot = this.slot(p.name)!;
      slot.trainable = trainable;
      slot.variable.trainable = trainable;
      count++;
    }
    return count;
  }

  /**
   * Freezes the parameters matching `pattern` (all when omitted).
   * @returns how many parameters matched
   */
  freeze(pattern?: NamePattern): number {
    return this.setTrainable(pattern, false);
  }

  /**
   * Makes the parameters matching `pattern` trainable (all when omitted).
   * @returns how many parameters matched
   */
  unfreeze(pattern?: NamePattern): number {
    return this.setTrainable(pattern, true);
  }

  /**
   * The current values by full dotted name. The tensors are the live variables: read them (or
   * pass them to a safetensors writer) but do not dispose them.
   */
  state(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const p of this.namedParameters()) out[p.name] = p.variable;
    return out;
  }

  /**
   * Assigns values from `state` by full dotted name. Everything is checked before anything is
   * assigned, so a load that throws leaves every parameter as it was: in strict mode, missing and
   * unexpected keys; then for each key, that its value is a live tensor (not disposed), of the
   * parameter's shape, with a numeric dtype, and (unless `allowNonFinite`) free of NaN and ±Infinity.
   * The caller keeps ownership of the tensors in `state`.
   * @throws naming the key (and the source) and what was expected and found; nothing is assigned
   */
  loadState(state: Record<string, tf.Tensor> | Map<string, tf.Tensor>, options: LoadStateOptions = {}): LoadStateReport {
    return loadParameters(this.namedParameters(), state, options);
  }

  /** Disposes every variable of the tree. */
  dispose(): void {
    for (const slot of this.own.values()) slot.variable.dispose();
    for (const child of this.children.values()) child.dispose();
    this.own.clear();
    this.children.clear();
  }
}

/** How many elements of a float tensor are NaN or ±Infinity (counted on the backend, one number read back). */
function nonFiniteCount(x: tf.Tensor): number {
  if (!readsSync()) {
    // WebGPU in Node: a GPU result cannot be read synchronously, but a tensor made from host data
    // (a checkpoint's, a state's) still has its values on the host: count there.
    const values = x.dataSync();
    let bad = 0;
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) bad++;
    return bad;
  }
  const count = tf.tidy(() => tf.sum(tf.cast(tf.logicalNot(tf.isFinite(x)), 'int32')) as tf.Scalar);
  const n = count.arraySync();
  count.dispose();
  return n;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function preview(names: string[]): string {
  const head = names
    .slice(0, 8)
    .map((n) => `"${n}"`)
    .join(', ');
  return names.length > 8 ? `${head}, ... (${names.length - 8} more)` : head;
}

/**
 * The one load path of parameters (a {@link Module}'s, an adapted model's, a checkpoint's): every
 * check happens before anything is assigned, so a load that throws leaves every parameter as it
 * was. In strict mode, missing and unexpected keys; then for each key, that its value is a live
 * tensor of the parameter's shape with a numeric dtype, and (unless `allowNonFinite`) free of NaN
 * and ±Infinity. The caller keeps ownership of the tensors in `state`.
 * @param params - the parameters to fill, by full name
 * @param state - values by name
 * @param options - strictness, source and caller (`label`, default `Module.loadState`) for messages, non-finite values
 * @throws naming the key (and the source) and what was expected and found; nothing is assigned
 */
export function loadParameters(
  params: ReadonlyArray<{ name: string; variable: tf.Variable }>,
  state: Record<string, tf.Tensor> | Map<string, tf.Tensor>,
  options: LoadStateOptions & { label?: string } = {},
): LoadStateReport {
  const strict = options.strict ?? true;
  const where = options.source ? ` (${options.source})` : '';
  const label = options.label ?? 'Module.loadState';
  const entries = state instanceof Map ? [...state.entries()] : Object.entries(state);
  const byName = new Map(entries);
  const known = new Set(params.map((p) => p.name));
  const missing = params.filter((p) => !byName.has(p.name)).map((p) => p.name);
  const unexpected = entries.map(([k]) => k).filter((k) => !known.has(k));
  if (strict && (missing.length > 0 || unexpected.length > 0)) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing ${missing.length} key(s): ${preview(missing)}`);
    if (unexpected.length) parts.push(`unexpected ${unexpected.length} key(s): ${preview(unexpected)}`);
    throw new Error(`${label}${where}: ${parts.join('; ')}`);
  }
  const fail = (name: string, message: string) => new Error(`${label}${where}: key "${name}" ${message}`);
  const todo: Array<{ variable: tf.Variable; value: tf.Tensor; name: string }> = [];
  for (const p of params) {
    if (!byName.has(p.name)) continue;
    const value = byName.get(p.name);
    if (!(value instanceof tf.Tensor))
      throw fail(p.name, `is ${value === null ? 'null' : typeof value}, expected a tensor of shape [${p.variable.shape}]`);
    if (value.isDisposed) throw fail(p.name, 'is a disposed tensor: its data was already freed');
    if (!sameShape(value.shape, p.variable.shape)) throw fail(p.name, `has shape [${value.shape}], expected [${p.variable.shape}]`);
    if (value.dtype !== 'float32' && value.dtype !== 'int32' && value.dtype !== p.variable.dtype) {
      throw fail(p.name, `has dtype ${value.dtype}, expected ${p.variable.dtype} (or float32/int32, converted)`);
    }
    if (!options.allowNonFinite && value.dtype === 'float32') {
      const bad = nonFiniteCount(value);
      if (bad > 0)
        throw fail(
          p.name,
          `holds ${bad} non-finite value(s) (NaN or Infinity) among ${value.size}; pass allowNonFinite to load them anyway`,
        );
    }
    todo.push({ variable: p.variable, value, name: p.name });
  }
  // Only now change anything: every value is known to fit.
  for (const { variable, value } of todo) {
    if (value.dtype === variable.dtype) variable.assign(value);
    else tf.tidy(() => variable.assign(tf.cast(value, variable.dtype)));
  }
  return { missing, unexpected, loaded: todo.map((t) => t.name) };
}
