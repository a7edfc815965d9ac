/** A value a method option can take: plain, JSON-serialisable data. */
export type OptionValue = number | boolean | string | null | OptionValue[] | { [key: string]: OptionValue };

/**
 * How a `--set` string becomes an option's value, for options whose default does not tell:
 * `number?` (a number, or `auto` for null: derived when the method is attached), `numbers` (a
 * comma-separated list of numbers), `strings`, `number`, `boolean`, `string`.
 */
export type OptionKind = 'number' | 'number?' | 'numbers' | 'boolean' | 'string' | 'strings';

/** A plain decimal number: optional sign, digits with an optional fraction, optional exponent. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Builds a complete config from `defaults` and string overrides (as given by `--set key=value`),
 * converting each value to the type of its default: numbers (decimal notation only), booleans
 * (`true`/`false`), strings, and lists (comma-separated). A dotted key (`side.hiddenSize`) sets a
 * field of a nested object. Where the default does not tell the type (null, an empty list),
 * `kinds` does, by dotted key.
 * @param defaults - the method's defaults; they define which keys exist
 * @param overrides - key to raw string value
 * @param context - names the method in error messages
 * @param kinds - the kind of each option whose default is null or an empty list
 * @throws for an unknown key (listing the known ones) or a value of the wrong type
 */
export function configFromStrings<T extends object>(
  defaults: T,
  overrides: Record<string, string>,
  context: string,
  kinds: Readonly<Record<string, OptionKind>> = {},
): T {
  const out = JSON.parse(JSON.stringify(defaults)) as Record<string, unknown>;
  for (const [key, raw] of Object.entries(overrides)) {
    const parents = key.split('.');
    const field = parents.pop()!; // split gives at least one part
    let parent = out;
    for (const [i, name] of parents.entries()) {
      const next = parent[name];
      if (!isPlainObject(next)) throw unknownOption(context, key, parent, parents.slice(0, i));
      parent = next;
    }
    if (!(field in parent)) throw unknownOption(context, key, parent, parents);
    parent[field] = parseOption(raw, kinds[key] ?? kindOf(parent[field], key, context), key, context);
  }
  return out as T;
}

/**
 * The inverse of {@link configFromStrings}: every option of a config as the string `--set` would
 * take, by dotted key (nested objects flattened: `side.hiddenSize`). Numbers are written in
 * decimal, `null` as `auto` (kind `number?`), lists comma-separated, and a list of named objects
 * (saved methods) as their names. `configFromStrings(defaults, configToStrings(config), ...)`
 * gives `config` back for every option of those kinds. Forms and listings are generated from it.
 * @param config - plain data
 * @throws naming the option whose value has no string form
 */
export function configToStrings(config: object, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, value] of Object.entries(config)) {
    const key = `${prefix}${field}`;
    if (isPlainObject(value)) Object.assign(out, configToStrings(value, `${key}.`));
    else if (Array.isArray(value))
      out[key] = value.map((v) => scalarString(isPlainObject(v) && typeof v.name === 'string' ? v.name : v, key)).join(',');
    else out[key] = scalarString(value, key);
  }
  return out;
}

function scalarString(value: unknown, key: string): string {
  if (value === null) return 'auto';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string') return String(value);
  throw new Error(`configToStrings: option "${key}" holds ${JSON.stringify(value)}, which has no --set string form`);
}

function kindOf(value: unknown, key: string, context: string): OptionKind {
  if (typeof value === 'number') return 'number';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'string') return 'string';
  if (Array.isArray(value) && value.length > 0) return typeof value[0] === 'number' ? 'numbers' : 'strings';
  throw new Error(`${context}: option "${key}" cannot be set from a string (its default ${JSON.stringify(value)} does not give its type)`);
}

function parseOption(raw: string, kind: OptionKind, key: string, context: string): unknown {
  const number = (s: string) => {
    if (!DECIMAL.test(s)) throw new Error(`${context}: option "${key}" expects a decimal number, got "${raw}"`);
    return Number(s);
  };
  switch (kind) {
    case 'number':
      return number(raw);
    case 'number?':
      return raw === 'auto' ? null : number(raw);
    case 'boolean':
      if (raw !== 'true' && raw !== 'false') throw new Error(`${context}: option "${key}" expects true or false, got "${raw}"`);
      return raw === 'true';
    case 'numbers':
      return raw === '' ? [] : raw.split(',').map((s) => number(s.trim()));
    case 'strings':
      return raw === '' ? [] : raw.split(',').map((s) => s.trim());
    default:
      return raw;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function unknownOption(context: string, key: string, level: Record<string, unknown>, at: string[]): Error {
  const known = Object.keys(level).map((k) => [...at, k].join('.'));
  return new Error(`${context}: unknown option "${key}"; known options: ${known.join(', ')}`);
}
