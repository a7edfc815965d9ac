/**
 * Checks the parsed JSON of one file against the shape code expects, each failure one sentence
 * naming the file and the key at fault with what was expected (`x.json: "memory.peakBytes" must be
 * a number, got "lots"`). Result files, measurement files and grid files all read through it.
 */
export class JsonChecker {
  /** @param source - the file, named in every error */
  constructor(readonly source: string) {}

  /** Throws the error for `key`. */
  fail(key: string, what: string): never {
    throw new Error(`${this.source}: "${key}" ${what}`);
  }

  /** A JSON object. */
  obj(v: unknown, key: string): Record<string, unknown> {
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : this.fail(key, 'must be an object');
  }

  /** A number, or null (JSON's NaN). */
  num(v: unknown, key: string): number | null {
    return typeof v === 'number' || v === null ? v : this.fail(key, `must be a number, got ${JSON.stringify(v)}`);
  }

  /** A finite number that is not negative (a byte count, a duration). */
  size(v: unknown, key: string): number {
    return typeof v === 'number' && Number.isFinite(v) && v >= 0
      ? v
      : this.fail(key, `must be a non-negative number, got ${JSON.stringify(v)}`);
  }

  /** A finite number (of any sign). */
  finite(v: unknown, key: string): number {
    return typeof v === 'number' && Number.isFinite(v) ? v : this.fail(key, `must be a finite number, got ${JSON.stringify(v)}`);
  }

  /** A string. */
  str(v: unknown, key: string): string {
    return typeof v === 'string' ? v : this.fail(key, `must be a string, got ${JSON.stringify(v)}`);
  }

  /** One of the given strings. */
  oneOf<T extends string>(v: unknown, key: string, allowed: readonly T[]): T {
    return allowed.includes(v as T)
      ? (v as T)
      : this.fail(key, `must be ${allowed.map((a) => `"${a}"`).join(' or ')}, got ${JSON.stringify(v)}`);
  }

  /** A list of strings. */
  strings(v: unknown, key: string): string[] {
    return Array.isArray(v) && v.every((s) => typeof s === 'string') ? v : this.fail(key, 'must be a list of strings');
  }
}
