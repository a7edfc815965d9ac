// The CLI edge: the only place where method names become method objects for the bench
// (`--method lora --set rank=16`). Libraries take typed factories; this maps names and `--set`
// strings onto them.
import { configFromStrings, type OptionValue } from '@fpt/core';
import { MethodRegistry, type Method, type MethodFactory } from '@fpt/backbone-vit';
import { registerBaselines } from '@fpt/baselines';
import { fptPlus, fptV1, registerFpt, type FptOptions } from '@fpt/fpt-plus';
import { getSelector } from '@fpt/token-select';

/** Every method by name: re-creates saved methods (`loadAdapted`) and parses `--set` for the baselines. */
export const METHOD_REGISTRY: MethodRegistry = registerFpt(registerBaselines(new MethodRegistry()));

/** A method as the command line knows it: flat options with typed defaults, parsed into the typed config. */
export interface CliMethod {
  /** CLI name. */
  name: string;
  /** One line for listings. */
  description: string;
  /** Option defaults; their types drive `--set` parsing. */
  defaults: Record<string, OptionValue>;
  /**
   * Makes the method from `--set key=value` strings.
   * @throws naming the option and what it accepts
   */
  make(sets: Record<string, string>): Method;
}

/** FPT's options on the command line: the nested options flattened. */
function fptCli(factory: MethodFactory<FptOptions>): CliMethod {
  const d = factory.defaults;
  const defaults = {
    inputSize: d.inputSize,
    layers: [] as string[],
    criterion: d.selector.fingerprint.name,
    selectorSeed: 0,
    ratio: d.ratio,
    prompts: d.prompts,
    dropout: d.dropout,
    sideWidth: d.side.hiddenSize ?? 96,
    sideImage: d.side.imageSize ?? 128,
    sideMethods: [] as string[],
    seed: d.seed,
  };
  return {
    name: factory.methodName,
    description: factory.description,
    defaults,
    make(sets) {
      const o = configFromStrings(defaults, sets, factory.methodName);
      const layers = o.layers.map((s) => {
        if (!/^\d+$/.test(s))
          throw new Error(`${factory.methodName}: option "layers" expects comma-separated layer indices, got "${o.layers.join(',')}"`);
        return Number(s);
      });
      return factory({
        inputSize: o.inputSize,
        layers,
        selector: getSelector(o.criterion, o.selectorSeed),
        ratio: o.ratio,
        prompts: o.prompts,
        dropout: o.dropout,
        side: {
          hiddenSize: o.sideWidth,
          imageSize: o.sideImage,
          mlpDim: 4 * o.sideWidth,
          ...(layers.length ? { numLayers: layers.length } : {}),
        },
        sideMethods: o.sideMethods.map((name) => METHOD_REGISTRY.fromStrings(name, {})),
        seed: o.seed,
      });
    },
  };
}

function baselineCli(name: string): CliMethod {
  const factory = METHOD_REGISTRY.get(name);
  return {
    name,
    description: factory.description,
    defaults: factory.defaults as Record<string, OptionValue>,
    make: (sets) => METHOD_REGISTRY.fromStrings(name, sets),
  };
}

/** Every method the bench knows, by CLI name: FPT+, FPT, then the baselines. */
export const CLI_METHODS: ReadonlyMap<string, CliMethod> = new Map(
  [fptCli(fptPlus), fptCli(fptV1), ...registerBaselines(new MethodRegistry()).names().map(baselineCli)].map((m) => [m.name, m]),
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
