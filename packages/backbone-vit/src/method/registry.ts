import { configFromStrings, type OptionKind } from '@fpt/core';
import type { Method, MethodFactory, SavedMethod } from './method';

/**
 * Factories by registered name: the one place where a method's name becomes an object. Used at the
 * CLI edge (`--method lora --set rank=16`) and to re-create saved methods. One `register` call per
 * method. Options that hold methods (kind `methods`, FPT+'s `sideMethods`) are resolved through the
 * same registry, from names or saved configs alike.
 */
export class MethodRegistry {
  private readonly factories = new Map<string, MethodFactory<object>>();

  /**
   * Adds a factory under its `methodName`.
   * @param factory - the factory
   * @throws when the name is taken
   */
  register<C extends object>(factory: MethodFactory<C>): this {
    if (this.factories.has(factory.methodName)) throw new Error(`MethodRegistry: method "${factory.methodName}" is already registered`);
    this.factories.set(factory.methodName, factory as unknown as MethodFactory<object>);
    return this;
  }

  /**
   * The factory of a name.
   * @throws naming the method and listing the registered ones
   */
  get(name: string): MethodFactory {
    const f = this.factories.get(name);
    if (!f) throw new Error(`unknown method "${name}"; known: ${this.names().join(', ')}`);
    return f;
  }

  /** Registered names in registration order. */
  names(): string[] {
    return [...this.factories.keys()];
  }

  /**
   * A method from `--set key=value` strings, each converted to the type of its default; dotted keys
   * set nested fields (`side.hiddenSize=128`). An option of kind `methods` takes names
   * (`sideMethods=lora,ssf`), and each named method's options come as `sideMethods.lora.rank=8`.
   * @throws for an unknown method or option, or a value of the wrong type or range
   */
  fromStrings(name: string, sets: Record<string, string>): Method {
    const factory = this.get(name);
    const listed = methodOptions(factory);
    const own: Record<string, string> = {};
    const names = new Map<string, string[]>();
    const nested = new Map<string, Record<string, string>>();
    for (const [key, raw] of Object.entries(sets)) {
      const option = listed.find((o) => key === o || key.startsWith(`${o}.`));
      if (!option) own[key] = raw;
      else if (key === option) names.set(option, raw === '' ? [] : raw.split(',').map((s) => s.trim()));
      else {
        const rest = key.slice(option.length + 1);
        const dot = rest.indexOf('.');
        if (dot <= 0) throw new Error(`${name}: option "${key}" must be ${option}.<method>.<option>, e.g. ${option}.lora.rank=8`);
        const inner = `${option}.${rest.slice(0, dot)}`;
        nested.set(inner, { ...nested.get(inner), [rest.slice(dot + 1)]: raw });
      }
    }
    const kinds = Object.fromEntries(Object.entries(factory.optionKinds).filter(([, k]) => k !== 'methods')) as Record<string, OptionKind>;
    const config = configFromStrings(factory.defaults, own, name, kinds) as Record<string, unknown>;
    for (const inner of nested.keys()) {
      const [option, method] = [inner.slice(0, inner.indexOf('.')), inner.slice(inner.indexOf('.') + 1)];
      if (!names.get(option)?.includes(method))
        throw new Error(`${name}: options for "${method}" in "${inner}.*" but "${option}" does not list ${method}`);
    }
    for (const option of listed) {
      const given = names.get(option);
      config[option] = given
        ? given.map((m) => this.fromStrings(m, nested.get(`${option}.${m}`) ?? {}))
        : this.reviveList(config[option], option, name);
    }
    return factory(config);
  }

  /**
   * Re-creates a saved method (from JSON); the factory validates every value, and saved methods
   * inside the config are revived through this registry.
   * @throws for an unknown method or an invalid configuration, naming it
   */
  revive(saved: SavedMethod): Method {
    if (!saved || typeof saved.name !== 'string' || typeof saved.config !== 'object' || saved.config === null) {
      throw new Error(`a saved method must be {"name": string, "config": object}, got ${JSON.stringify(saved)}`);
    }
    const factory = this.get(saved.name);
    const config: Record<string, unknown> = { ...saved.config };
    for (const option of methodOptions(factory)) {
      if (option in config) config[option] = this.reviveList(config[option], option, saved.name);
    }
    return factory(config);
  }

  private reviveList(list: unknown, option: string, method: string): Method[] {
    if (!Array.isArray(list)) throw new Error(`${method}: option "${option}" must be a list of saved methods, got ${JSON.stringify(list)}`);
    return list.map((m) => this.revive(m as SavedMethod));
  }
}

function methodOptions(factory: MethodFactory): string[] {
  return Object.entries(factory.optionKinds)
    .filter(([, kind]) => kind === 'methods')
    .map(([option]) => option);
}

/** The JSON form of a method: `{ name, config }` (what `JSON.stringify(method)` writes). */
export function savedMethod(method: Method): SavedMethod {
  return JSON.parse(JSON.stringify({ name: method.name, config: method.config })) as SavedMethod;
}
