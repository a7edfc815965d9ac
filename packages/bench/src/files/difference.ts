/**
 * The first key path where two JSON values differ (`recipe.epochs`, `epochs[2].val.auc`), or
 * undefined when they are equal (NaN equals NaN).
 */
export function firstDifference(a: unknown, b: unknown, path = ''): string | undefined {
  if (a === b || (Number.isNaN(a) && Number.isNaN(b))) return undefined;
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    for (const k of keys) {
      const d = firstDifference(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        Array.isArray(a) ? `${path}[${k}]` : path ? `${path}.${k}` : k,
      );
      if (d !== undefined) return d;
    }
    return undefined;
  }
  return path || '(root)';
}

/** The value at a key path made by {@link firstDifference}. */
export function valueAt(value: unknown, path: string): unknown {
  if (path === '(root)') return value;
  let v = value;
  for (const part of path.match(/[^.[\]]+/g) ?? []) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}
