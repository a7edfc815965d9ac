import { configFromStrings } from '@fpt/core';
import type { Method, MethodFactory } from './method';

/** A method as saved in JSON: its registered name and complete configuration. */
export interface SavedMethod {
  /** Registered name. */
  name: string;
  /** Complete configuration. */
  config: Record<string, unknown>;
}

/**
 * Factories by registered name: the one place where a method's name becomes an object. Used at the
 * CLI edge (`--method lora --set rank=16`) and to re-create saved methods. One `register` call per
 * method.
 */
export class MethodRegistry {
  private readonly factories = new Map<string, MethodFactory<object>>();
  private readonly revivers = new Map<string, (config: Record<string, unknown>, registry: MethodRegistry) => Record<string, unknown>>();

  /**
   * Adds a factory under its `methodName`.
   * @param factory - the factory
   * @param revive - turns a saved JSON config back into factory options, for configs that hold
   *   objects (FPT+'s token selector and side-network methods); absent: the JSON is the options
   * @throws when the name is taken
   */
  register<C extends object>(
    factory: MethodFactory<C>,
    revive?: (config: Record<string, unknown>, registry: MethodRegistry) => Record<string, unknown>,
  ): this {
    if (this.factories.has(factory.methodName)) throw new Error(`MethodRegistry: method "${factory.methodName}" is already registered`);
    this.factories.set(factory.methodName, factory);
    if (revive) this.revivers.set(factory.methodName, revive);
    return this;
  }

  /**
   * The factory of a name.
   * @throws naming the method and listing the registered ones
   */
  get(name: string): MethodFactory {
    const f = this.factories.get(name);
    if (!f) throw new Error(`unknown method "${name}"; known: ${this.names().join(', ')}`);
    return f as MethodFactory;
  }

  /** Registered names in registration order. */
  names(): string[] {
    return [...this.factories.keys()];
  }

  /**
   * A method from `--set key=value` strings, each converted to the type of its default.
   * @throws for an unknown method or option, or a value of the wrong type or range
   */
  fromStrings(name: string, sets: Record<string, string>): Method {
    const factory = this.get(name);
    return factory(configFromStrings(factory.defaults, sets, name));
  }

  /**
   * Re-creates a saved method (from JSON); the factory validates every value.
   * @throws for an unknown method or an invalid configuration, naming it
   */
  revive(saved: SavedMethod): Method {
    if (!saved || typeof saved.name !== 'string' || typeof saved.config !== 'object' || saved.config === null) {
      throw new Error(`a saved method must be {"name": string, "config": object}, got ${JSON.stringify(saved)}`);
    }
    const factory = this.get(saved.name);
    const revive = this.revivers.get(saved.name);
    return factory(revive ? revive(saved.config, this) : saved.config);
  }
}

/** The JSON form of a method: `{ name, config }` (what `JSON.stringify(method)` writes). */
export function savedMethod(method: Method): SavedMethod {
  return JSON.parse(JSON.stringify({ name: method.name, config: method.config })) as SavedMethod;
}
