import type * as tf from '@tensorflow/tfjs-core';
import type { Module, NamePattern, OptionKind } from '@fpt/core';
import type { VitHooks } from '../hooks';
import type { VitModel } from '../model';
import type { Capability } from './capabilities';
import type { ForwardContext } from './context';

/** One batch of inputs for an adapted model. */
export interface Batch {
  /** The pixels the trainable path sees [B, C, H, W], normalised (FPT+: the low-resolution image). */
  pixels: tf.Tensor;
  /** Extra inputs some methods need (see the `needsInputs` capability), by name. */
  extras?: Readonly<Record<string, tf.Tensor>>;
}

/**
 * A method attached to a backbone: what it adds and how it changes the forward pass. Made by
 * {@link Method.attach}; the backbone is frozen by the caller, then the names in `unfreeze` train.
 */
export interface AttachedMethod {
  /** The method's own parameters (may be empty), named relative to the method. */
  readonly module: Module;
  /** Its hooks for one forward pass; `ctx` is the call's context (training, seed, step). */
  hooks(ctx: ForwardContext): VitHooks;
  /** Backbone parameters this method trains (BitFit's biases, say), as core name patterns. */
  readonly unfreeze: readonly NamePattern[];
  /** Whether training back-propagates through the backbone's activations. */
  readonly backpropagatesThroughBackbone: boolean;
  /** What it can do beyond hooks and parameters. */
  readonly capabilities: readonly Capability[];
  /** Frees what the method owns besides `module` (its parameters are freed with the adapted model). */
  dispose?(): void;
}

/** A method as saved in JSON: its registered name and complete configuration. */
export interface SavedMethod {
  /** Registered name. */
  name: string;
  /** Complete configuration. */
  config: Record<string, unknown>;
}

/**
 * How a `--set` string becomes an option's value where the default does not tell (see
 * `OptionKind` of `@fpt/core`), or `methods`: a list of methods (FPT+'s `sideMethods`), given on
 * the command line as names (`sideMethods=lora,ssf`) with their own options under
 * `<option>.<method>.<key>`, and saved as {@link SavedMethod}s.
 */
export type MethodOptionKind = OptionKind | 'methods';

/**
 * What a factory takes: any subset of the configuration, a nested object's fields one by one, and
 * method objects (`lora({ rank: 8 })`) where the configuration holds saved methods.
 * @typeParam C - the configuration
 */
export type MethodOptions<C> = {
  [K in keyof C]?: C[K] extends readonly SavedMethod[]
    ? readonly Method[]
    : C[K] extends readonly unknown[]
      ? C[K]
      : C[K] extends object
        ? Partial<C[K]>
        : C[K];
};

/**
 * A PETL method: a typed, complete configuration and how to attach it to a backbone. Made by a
 * factory such as `lora({ rank: 16 })`; see {@link defineMethod}.
 * @typeParam C - the configuration
 */
export interface Method<C extends object = object> {
  /** The registered name (`lora`): names the method in reports, errors and saved configs. */
  readonly name: string;
  /**
   * The complete configuration, defaults filled in: plain data (numbers, strings, booleans, null,
   * lists, objects; methods inside it as {@link SavedMethod}s), which `JSON.stringify` writes and a
   * `MethodRegistry` revives. Objects (layers, selectors, side networks) are made from it in `attach`.
   */
  readonly config: Readonly<C>;
  /** The factory that made it: two methods from one factory are the same method. */
  readonly factory: MethodFactory<C>;
  /**
   * Builds the method's parameters and hooks for `backbone`.
   * @throws naming the option at fault when the config does not fit the backbone
   */
  attach(backbone: VitModel): AttachedMethod;
}

/**
 * Makes a {@link Method} from options; `defaults` and `description` drive listings and the CLI's
 * `--set key=value` parsing.
 * @typeParam C - the configuration
 */
export interface MethodFactory<C extends object = object> {
  /**
   * @param options - any subset of the configuration; the rest takes the defaults
   * @throws naming the option at fault when a value is out of range or not plain data
   */
  (options?: MethodOptions<C>): Method<C>;
  /** The registered name. */
  readonly methodName: string;
  /** One line for listings. */
  readonly description: string;
  /** The configuration used for every option left out. */
  readonly defaults: Readonly<C>;
  /** The kind of each option whose default does not tell it (by dotted key); see {@link MethodOptionKind}. */
  readonly optionKinds: Readonly<Record<string, MethodOptionKind>>;
}

/**
 * Turns a saved method inside a configuration back into the method object it was made from (the
 * factory keeps the objects it was given; a registry gives it the objects it revives).
 */
export type MethodResolver = (saved: SavedMethod) => Method;

/** What {@link defineMethod} needs to make a factory. */
export interface MethodDefinition<C extends object> {
  /** The registered name. */
  name: string;
  /** One line for listings. */
  description: string;
  /** The defaults: plain data. */
  defaults: C;
  /** The kind of each option whose default is null or an empty list (by dotted key). */
  optionKinds?: Record<string, MethodOptionKind>;
  /**
   * Checks a complete configuration (values from strings or JSON reach here too).
   * @throws naming the option and the allowed values
   */
  validate?(config: C): void;
  /**
   * Attaches the method with a complete, validated configuration.
   * @param resolve - the method objects behind the saved methods in `config`
   */
  attach(backbone: VitModel, config: C, resolve: MethodResolver): AttachedMethod;
}

/**
 * Defines a method in one call: the returned factory completes options with the defaults (nested
 * objects field by field), turns them into plain data (method objects into saved methods), validates
 * them (so a bad value fails when the method is made, not mid-training) and makes {@link Method}
 * objects.
 * @param definition - name, description, defaults, option kinds, validation, attach
 */
export function defineMethod<C extends object>(definition: MethodDefinition<C>): MethodFactory<C> {
  const { name } = definition;
  const factory = ((options: MethodOptions<C> = {}): Method<C> => {
    const made = new Map<string, Method>();
    const config = plainData(merge(definition.defaults, options, name, ''), name, '', made) as C;
    definition.validate?.(config);
    deepFreeze(config);
    const resolve: MethodResolver = (saved) => {
      const m = made.get(JSON.stringify(saved));
      if (!m)
        throw new Error(`${name}: the saved method "${saved?.name}" was not given as a method object; revive it through a MethodRegistry`);
      return m;
    };
    const method: Method<C> = {
      name,
      config,
      factory,
      attach: (backbone) => definition.attach(backbone, config, resolve),
      toJSON: () => ({ name, config }),
    } as Method<C>;
    return Object.freeze(method);
  }) as MethodFactory<C>;
  Object.defineProperties(factory, {
    methodName: { value: name, enumerable: true },
    description: { value: definition.description, enumerable: true },
    defaults: { value: deepFreeze(JSON.parse(JSON.stringify(definition.defaults))), enumerable: true },
    optionKinds: { value: Object.freeze({ ...definition.optionKinds }), enumerable: true },
  });
  return factory;
}

// Defaults completed by options: unknown keys refused, nested plain objects merged field by field,
// explicit `undefined` meaning "the default".
function merge(defaults: unknown, options: unknown, method: string, at: string): unknown {
  if (!isPlainObject(defaults) || !isPlainData(options)) return options === undefined ? defaults : options;
  const known = Object.keys(defaults);
  const out: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(options)) {
    if (!known.includes(key)) {
      throw new Error(`${method}: unknown option "${at}${key}"; known options: ${known.map((k) => at + k).join(', ')}`);
    }
    out[key] = merge(defaults[key], value, method, `${at}${key}.`);
  }
  return out;
}

// A copy of a configuration as plain data; method objects become saved methods and are kept in `made`.
function plainData(value: unknown, method: string, at: string, made: Map<string, Method>): unknown {
  const where = at.replace(/\.$/, '') || 'options';
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`${method}: option "${where}" must be a finite number, got ${value}`);
    return value;
  }
  if (Array.isArray(value)) return value.map((v, i) => plainData(v, method, `${at}${i}.`, made));
  if (isMethod(value)) {
    const saved = { name: value.name, config: value.config as Record<string, unknown> };
    made.set(JSON.stringify(saved), value);
    return saved;
  }
  if (isPlainData(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainData(v, method, `${at}${k}.`, made)]));
  }
  throw new Error(
    `${method}: option "${where}" must be plain data (numbers, strings, booleans, null, lists, objects) or a method; got ${describe(value)}`,
  );
}

function isPlainData(v: unknown): v is Record<string, unknown> {
  return isPlainObject(v) && !Object.values(v).some((x) => typeof x === 'function');
}

function isMethod(v: unknown): v is Method {
  const m = v as Method;
  return typeof v === 'object' && v !== null && typeof m.attach === 'function' && typeof m.factory === 'function';
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function describe(v: unknown): string {
  if (typeof v === 'object' && v !== null) return `an object of type ${v.constructor?.name ?? 'unknown'} or one holding functions`;
  return `a ${typeof v}`;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    Object.values(v).forEach(deepFreeze);
  }
  return v;
}

/**
 * An attached method with the common defaults: nothing of the backbone unfrozen, gradients through
 * the backbone, no capabilities, no hooks.
 * @param module - the method's parameters
 * @param fields - the fields that differ
 */
export function attached(module: Module, fields: Partial<Omit<AttachedMethod, 'module'>> = {}): AttachedMethod {
  return { module, hooks: () => ({}), unfreeze: [], backpropagatesThroughBackbone: true, capabilities: [], ...fields };
}

/** Throws unless `value` is a positive integer, naming the method and option. */
export function positiveInt(value: unknown, option: string, method: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new Error(`${method}: option "${option}" must be a positive integer, got ${JSON.stringify(value)}`);
  }
}

/** A numeric range for {@link numberIn}: `[min, max)` by default. */
export interface NumberRange {
  /** Lower bound (default -Infinity). */
  min?: number;
  /** Upper bound (default Infinity). */
  max?: number;
  /** Exclude `min` itself: (min, ... */
  minExclusive?: boolean;
  /** Include `max` itself: ..., max] */
  maxInclusive?: boolean;
}

/** Throws unless `value` is a finite number in `range`, naming the method, the option and the range. */
export function numberIn(value: unknown, option: string, method: string, range: NumberRange = {}): void {
  const { min = -Infinity, max = Infinity, minExclusive = false, maxInclusive = false } = range;
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (minExclusive ? value > min : value >= min) &&
    (maxInclusive ? value <= max : value < max);
  if (!ok) {
    const lo = min === -Infinity ? '(-inf' : `${minExclusive ? '(' : '['}${min}`;
    const hi = max === Infinity ? 'inf)' : `${max}${maxInclusive ? ']' : ')'}`;
    throw new Error(`${method}: option "${option}" must be a number in ${lo}, ${hi}, got ${JSON.stringify(value)}`);
  }
}
