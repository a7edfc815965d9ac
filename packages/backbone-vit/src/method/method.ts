import type * as tf from '@tensorflow/tfjs-core';
import type { Module, NamePattern } from '@fpt/core';
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

/**
 * A PETL method: a typed, complete configuration and how to attach it to a backbone. Made by a
 * factory such as `lora({ rank: 16 })`; see {@link defineMethod}.
 * @typeParam C - the configuration
 */
export interface Method<C extends object = object> {
  /** The registered name (`lora`): names the method in reports, errors and saved configs. */
  readonly name: string;
  /** The complete configuration (JSON-serialisable), defaults filled in. */
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
   * @throws naming the option at fault when a value is out of range
   */
  (options?: Partial<C>): Method<C>;
  /** The registered name. */
  readonly methodName: string;
  /** One line for listings. */
  readonly description: string;
  /** The configuration used for every option left out. */
  readonly defaults: Readonly<C>;
}

/** What {@link defineMethod} needs to make a factory. */
export interface MethodDefinition<C extends object> {
  /** The registered name. */
  name: string;
  /** One line for listings. */
  description: string;
  /** The defaults. */
  defaults: C;
  /**
   * Checks a complete configuration (values from strings or JSON reach here too).
   * @throws naming the option and the allowed values
   */
  validate?(config: C): void;
  /** Attaches the method with a complete, validated configuration. */
  attach(backbone: VitModel, config: C): AttachedMethod;
}

/**
 * Defines a method in one call: the returned factory completes options with the defaults,
 * validates them (so a bad value fails when the method is made, not mid-training) and makes
 * {@link Method} objects.
 * @param definition - name, description, defaults, validation, attach
 */
export function defineMethod<C extends object>(definition: MethodDefinition<C>): MethodFactory<C> {
  const factory = ((options: Partial<C> = {}): Method<C> => {
    const known = Object.keys(definition.defaults);
    for (const key of Object.keys(options)) {
      if (!known.includes(key)) throw new Error(`${definition.name}: unknown option "${key}"; known options: ${known.join(', ')}`);
    }
    const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    const config = { ...definition.defaults, ...defined } as C;
    definition.validate?.(config);
    const method: Method<C> = {
      name: definition.name,
      config: Object.freeze(config),
      factory,
      attach: (backbone) => definition.attach(backbone, config),
      toJSON: () => ({ name: definition.name, config }),
    } as Method<C>;
    return Object.freeze(method);
  }) as MethodFactory<C>;
  Object.defineProperties(factory, {
    methodName: { value: definition.name, enumerable: true },
    description: { value: definition.description, enumerable: true },
    defaults: { value: Object.freeze({ ...definition.defaults }), enumerable: true },
  });
  return factory;
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
