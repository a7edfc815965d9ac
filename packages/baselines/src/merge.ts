import type { Mergeable } from '@fpt/backbone-vit';

/**
 * The `mergeable` capability of a method that folds into the backbone with `fold(+1)` and out with
 * `fold(-1)`, refusing to fold twice or to unfold what is not folded. While merged, the method's
 * hooks must stand aside (they check `isMerged()`).
 * @param method - names the method in errors
 * @param fold - adds (+1) or removes (-1) the method's effect from the backbone weights
 */
export function mergeable(method: string, fold: (sign: 1 | -1) => void): Mergeable {
  let merged = false;
  return {
    kind: 'mergeable',
    isMerged: () => merged,
    merge() {
      if (merged) throw new Error(`${method}: already merged`);
      fold(1);
      merged = true;
    },
    unmerge() {
      if (!merged) throw new Error(`${method}: not merged`);
      fold(-1);
      merged = false;
    },
  };
}
