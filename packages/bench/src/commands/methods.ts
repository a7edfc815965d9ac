// The CLI edge: the only place where method names become method objects for the bench
// (`--methods lora --set lora.rank=16`). Libraries take typed factories; the registry maps names and
// `--set` strings onto them (dotted keys for nested options: `fpt-plus.side.hiddenSize=128`).
import { MethodRegistry, type Method } from '@fpt/backbone-vit';
import { registerBaselines } from '@fpt/baselines';
import { registerFpt } from '@fpt/fpt-plus';
import type { MethodFactory } from '../run/plan';

/**
 * Every method by name, FPT+ and FPT first, then the baselines: parses `--set` strings and
 * re-creates saved methods (`loadAdapted`). The one path from names and strings to methods.
 */
export const METHOD_REGISTRY: MethodRegistry = registerBaselines(registerFpt(new MethodRegistry()));

/** A method as the command line knows it: its registered factory's name, listing and defaults. */
export interface CliMethod {
  /** CLI name. */
  name: string;
  /** One line for listings. */
  description: string;
  /** Option defaults (the factory's, plain data; `null` where derived from the LPM when attached). */
  defaults: Readonly<object>;
  /**
   * Makes the method from `--set key=value` strings (see `MethodRegistry.fromStrings`).
   * @throws naming the option and what it accepts
   */
  make(sets: Record<string, string>): Method;
}

/** Every method the bench knows, by CLI name: FPT+, FPT, then the baselines. */
export const CLI_METHODS: ReadonlyMap<string, CliMethod> = new Map(
  METHOD_REGISTRY.names().map((name) => {
    const factory = METHOD_REGISTRY.get(name);
    const method: CliMethod = {
      name,
      description: factory.description,
      defaults: factory.defaults,
      make: (sets) => METHOD_REGISTRY.fromStrings(name, sets),
    };
    return [name, method];
  }),
);

/**
 * The CLI method of a name.
 * @throws naming the method and listing the known ones
 */
export function cliMethod(name: string): CliMethod {
  const m = CLI_METHODS.get(name);
  if (!m) throw new Error(`unknown method "${name}"; known: ${[...CLI_METHODS.keys()].join(', ')}`);
  return m;
}

/**
 * A method's `--set` strings for an LPM run at `lpmInputSize`: FPT+/FPT read the LPM's resolution
 * as their `inputSize` unless it is set.
 * @param name - the method's CLI name
 * @param sets - its `--set` options
 * @param lpmInputSize - side of the LPM's input
 */
export function setsForLpm(name: string, sets: Record<string, string>, lpmInputSize: number): Record<string, string> {
  return 'inputSize' in cliMethod(name).defaults ? { inputSize: String(lpmInputSize), ...sets } : sets;
}

/** Every method name the runner can build. */
export function trainableMethods(): string[] {
  return [...CLI_METHODS.keys()];
}

/**
 * The bench's method factory, what `run/` builds every method with: the registered factory of a
 * name with `--set` strings, FPT+/FPT at the LPM's resolution ({@link setsForLpm}).
 */
export const makeMethod: MethodFactory = (name, sets, lpmInputSize) => cliMethod(name).make(setsForLpm(name, sets, lpmInputSize));
