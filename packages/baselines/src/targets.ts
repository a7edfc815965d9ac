import type { VitModel } from '@fpt/backbone-vit';

/** Linear maps of a ViT by canonical name (the classifier excluded), with their input and output widths. */
export function linearLayers(backbone: VitModel): Map<string, { in: number; out: number }> {
  const out = new Map<string, { in: number; out: number }>();
  for (const p of backbone.namedParameters()) {
    if (!p.name.endsWith('.weight') || p.variable.rank !== 2) continue;
    if (p.name.startsWith('head.')) continue;
    out.set(p.name.slice(0, -'.weight'.length), { out: p.variable.shape[0] as number, in: p.variable.shape[1] as number });
  }
  return out;
}

/**
 * Matches method targets against layer names with peft's semantics: a list of strings matches a
 * name equal to one of them or ending with `.<target>`; a single string starting with `re:` is a
 * regular expression that must match the whole name.
 * @throws naming a target that matches nothing (never a silent no-op), or an invalid expression
 */
export function matchTargets(names: string[], targets: readonly string[], context: string): string[] {
  const [first] = targets;
  if (targets.length === 1 && first?.startsWith('re:')) {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${first.slice(3)})$`);
    } catch (err) {
      const why = (err as Error).message.replace(/^.*: /, '');
      throw new Error(
        `${context}: option "targets" value "${first}" is not a valid regular expression (${why}); expected re:<regex> matching whole layer names, e.g. re:blocks\\.\\d+\\.attn\\.qkv`,
      );
    }
    const hit = names.filter((n) => re.test(n));
    if (!hit.length) throw new Error(`${context}: target ${first} matches no layer; layers look like ${names.slice(0, 3).join(', ')}`);
    return hit;
  }
  const hit = new Set<string>();
  for (const t of targets) {
    const m = names.filter((n) => n === t || n.endsWith(`.${t}`));
    if (!m.length) throw new Error(`${context}: target "${t}" matches no layer; layers look like ${names.slice(0, 3).join(', ')}`);
    m.forEach((n) => hit.add(n));
  }
  return names.filter((n) => hit.has(n));
}
