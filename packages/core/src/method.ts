/** A value a method option can take. */
export type OptionValue = number | boolean | string | string[];

/**
 * A parameter-efficient transfer-learning method in the style of peft: one typed config with
 * defaults, and one `apply` that attaches the method to a model by matching parameter names.
 * @typeParam TModel - what the method attaches to (a backbone)
 * @typeParam TConfig - its configuration
 * @typeParam TApplied - what `apply` returns (the adapted model)
 */
export interface PetlMethod<TModel, TConfig extends object, TApplied> {
  /** Registry key, e.g. `lora`. */
  readonly name: string;
  /** One line for listings. */
  readonly description: string;
  /** The configuration used for every option the caller leaves out. */
  readonly defaults: TConfig;
  /**
   * Attaches the method to `model`.
   * @param model - the model to adapt
   * @param config - the complete configuration
   */
  apply(model: TModel, config: TConfig): TApplied;
}

/**
 * A registry of methods by name: one `register` call per method, look-up with a clear error.
 * @typeParam TModel - what the registered methods attach to
 * @typeParam TApplied - what they return
 */
export class MethodRegistry<TModel, TApplied> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private readonly methods = new Map<string, PetlMethod<TModel, any, TApplied>>();

  /**
   * Adds a method.
   * @throws when the name is taken
   */
  register<TConfig extends object>(method: PetlMethod<TModel, TConfig, TApplied>): void {
    if (this.methods.has(method.name)) throw new Error(`MethodRegistry: method "${method.name}" is already registered`);
    this.methods.set(method.name, method);
  }

  /** Whether a method of that name is registered. */
  has(name: string): boolean {
    return this.methods.has(name);
  }

  /**
   * The method of that name.
   * @throws naming the method and listing the registered ones
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  get(name: string): PetlMethod<TModel, any, TApplied> {
    const m = this.methods.get(name);
    if (!m) throw new Error(`unknown method "${name}"; registered: ${this.names().join(', ')}`);
    return m;
  }

  /** Registered names in registration order. */
  names(): string[] {
    return [...this.methods.keys()];
  }
}

/** A plain decimal number: optional sign, digits with an optional fraction, optional exponent. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Builds a complete config from `defaults` and string overrides (as given by `--set key=value`),
 * converting each value to the type of its default: numbers (decimal notation only), booleans (`true`/`false`), strings,
 * and string lists (comma-separated).
 * @param defaults - the method's defaults; they define which keys exist
 * @param overrides - key to raw string value
 * @param context - names the method in error messages
 * @throws for an unknown key (listing the known ones) or a value of the wrong type
 */
export function configFromStrings<T extends object>(defaults: T, overrides: Record<string, string>, context: string): T {
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [key, raw] of Object.entries(overrides)) {
    if (!(key in out)) {
      throw new Error(`${context}: unknown option "${key}"; known options: ${Object.keys(defaults).join(', ')}`);
    }
    const def = out[key];
    if (typeof def === 'number') {
      // Decimal notation only: Number() would also take " 5", "0x5" and "Infinity".
      if (!DECIMAL.test(raw)) throw new Error(`${context}: option "${key}" expects a decimal number, got "${raw}"`);
      out[key] = Number(raw);
    } else if (typeof def === 'boolean') {
      if (raw !== 'true' && raw !== 'false') throw new Error(`${context}: option "${key}" expects true or false, got "${raw}"`);
      out[key] = raw === 'true';
    } else if (Array.isArray(def)) {
      out[key] = raw === '' ? [] : raw.split(',').map((s) => s.trim());
    } else {
      out[key] = raw;
    }
  }
  return out as T;
}
