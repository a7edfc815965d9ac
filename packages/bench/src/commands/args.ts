import { parseBytes } from '@fpt/core';
/** Parsed command-line arguments: positionals, `--flag value` options and repeated `--set key=value`. */
export interface ParsedArgs {
  /** Arguments that are not options. */
  positional: string[];
  /** `--name value` options (last one wins). */
  options: Record<string, string>;
  /** `--set key=value` pairs. */
  sets: Record<string, string>;
  /** Value-less flags given (`--dry-run`). */
  flags: Set<string>;
}

/**
 * Parses `argv`. Every option takes a value (`--classes 5` or `--classes=5`); `--set` may repeat.
 * @param argv - arguments after the command name
 * @param known - option names accepted (besides `set`)
 * @param flags - value-less flag names accepted (`dry-run`)
 * @throws naming an unknown option, a missing value or a malformed `--set`
 */
export function parseArgs(argv: string[], known: string[], flags: string[] = []): ParsedArgs {
  const out: ParsedArgs = { positional: [], options: {}, sets: {}, flags: new Set() };
  const rest = argv.values(); // an option's value is the next argument: the loop and the option take from one iterator
  for (const a of rest) {
    if (!a.startsWith('--')) {
      out.positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (flags.includes(name)) {
      if (eq > 0) throw new Error(`--${name} takes no value`);
      out.flags.add(name);
      continue;
    }
    const value = eq > 0 ? a.slice(eq + 1) : rest.next().value;
    if (value === undefined) throw new Error(`option --${name} needs a value`);
    if (name === 'set') {
      const k = value.indexOf('=');
      if (k <= 0) throw new Error(`--set expects key=value, got "${value}"`);
      out.sets[value.slice(0, k)] = value.slice(k + 1);
    } else if (known.includes(name)) {
      out.options[name] = value;
    } else {
      throw new Error(`unknown option --${name}; known: ${[...known, 'set', ...flags].map((k) => `--${k}`).join(', ')}`);
    }
  }
  return out;
}

/** Plain decimal digits: no sign, exponent, hex prefix, separators or spaces. */
const DECIMAL_INTEGER = /^[0-9]+$/;

/**
 * A positive integer option, written as plain decimal digits (`5`, not `5.0`, `1e1`, `0x5` or
 * ` 5`), with an error naming it.
 * @param args - parsed arguments
 * @param name - the option, without `--`
 * @param fallback - the value when the option is absent
 * @param max - the largest value allowed, with why, for the message
 */
export function intOption(args: ParsedArgs, name: string, fallback: number, max?: { value: number; why: string }): number {
  const raw = args.options[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!DECIMAL_INTEGER.test(raw) || !Number.isSafeInteger(n) || n <= 0) {
    throw new Error(`--${name} expects a positive integer in plain decimal digits${max ? ` up to ${max.value}` : ''}, got "${raw}"`);
  }
  if (max && n > max.value) throw new Error(`--${name} is ${n}, over the limit of ${max.value} (${max.why})`);
  return n;
}

/**
 * `--<name> SIZE` (bytes, or a number with KiB, MiB or GiB), or undefined when absent.
 * @param args - the parsed arguments
 * @param name - the option's name, without `--`
 * @throws naming the option and what a size looks like
 */
export function sizeOption(args: ParsedArgs, name: string): number | undefined {
  const raw = args.options[name];
  return raw === undefined ? undefined : parseBytes(raw, `--${name}`);
}

/** The most classes a command builds a classifier for: the heads hold classes x width weights. */
export const MAX_CLASSES = 100_000;

/**
 * `--classes`: a positive integer up to {@link MAX_CLASSES} (ImageNet-21k has 21,843), so that a
 * typo cannot ask for a head of billions of weights.
 * @param args - parsed arguments
 * @param fallback - the value when the option is absent
 */
export function classesOption(args: ParsedArgs, fallback = 5): number {
  return intOption(args, 'classes', fallback, { value: MAX_CLASSES, why: 'the classifier heads hold classes x width weights' });
}
