/** A value a method option can take. */
export type OptionValue = number | boolean | string | string[];

/**
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
