import type * as tf from '@tensorflow/tfjs-core';
import type { Module, NamePattern, PetlMethod } from '@fpt/core';
import type { VitHooks, VitModel } from '@fpt/backbone-vit';

/**
 * What a method adds to a frozen backbone, before the shared classifier head: its own parameters,
 * the hooks that change the forward pass, and the backbone parameters it trains.
 */
export interface MethodPart {
  /** The method's own parameters (may be empty). */
  module: Module;
  /** Changes to the backbone's forward pass. */
  hooks: VitHooks;
  /** Backbone parameters this method trains (BitFit's biases, say). */
  unfreeze: NamePattern[];
  /** Training mode, set by the applied method before each forward (dropout in hooks reads it). */
  training: boolean;
  /** Whether the method can be folded into the backbone weights (`merge`). */
  mergeable: boolean;
  /** Whether gradients flow back through the backbone's activations during training. */
  gradientsThroughBackbone: boolean;
  /** Folds the method into the backbone weights (mergeable methods). */
  merge?(): void;
  /** Undoes {@link MethodPart.merge}. */
  unmerge?(): void;
  /**
   * Replaces the features the head reads (side-tuning): [B, D] from the pixels. Absent: the CLS
   * token of the hooked backbone's final features.
   */
  features?(backbone: VitModel, pixels: tf.Tensor, hooks: VitHooks, training: boolean): tf.Tensor;
}

/**
 * A {@link MethodPart} with the common defaults: nothing of the backbone unfrozen, not mergeable,
 * gradients through the backbone, evaluation mode.
 * @param module - the method's parameters
 * @param hooks - its changes to the forward pass
 * @param overrides - fields that differ
 */
export function methodPart(module: Module, hooks: VitHooks, overrides: Partial<MethodPart> = {}): MethodPart {
  return { module, hooks, unfreeze: [], training: false, mergeable: false, gradientsThroughBackbone: true, ...overrides };
}

/**
 * `merge`/`unmerge` for a method that folds into the backbone with `fold(+1)` and out with
 * `fold(-1)`, refusing to fold twice; `merged()` tells the hooks to stand aside while merged.
 * @param method - names the method in errors
 * @param fold - adds (+1) or removes (-1) the method's effect from the backbone weights
 */
export function mergeControls(method: string, fold: (sign: 1 | -1) => void): Pick<MethodPart, 'merge' | 'unmerge'> & { merged: () => boolean } {
  let merged = false;
  return {
    merged: () => merged,
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

/** A baseline: a core `PetlMethod` whose `apply` attaches to a ViT and returns a {@link MethodPart}. */
export type BaselineMethod<C extends object> = PetlMethod<VitModel, C, MethodPart>;

/** Linear maps of a ViT by canonical name, with their input and output widths. */
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
 * @throws naming a target that matches nothing (never a silent no-op), or an invalid `re:` regex
 */
export function matchTargets(names: string[], targets: string[], context: string): string[] {
  if (targets.length === 1 && targets[0].startsWith('re:')) {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${targets[0].slice(3)})$`);
    } catch (err) {
      throw new Error(`${context}: option "targets" value ${JSON.stringify(targets[0])} is not a valid regular expression (${(err as Error).message.split(': ').pop()}); expected re:<regex> matching whole layer names, e.g. re:blocks\\.\\d+\\.attn\\.qkv`);
    }
    const hit = names.filter((n) => re.test(n));
    if (!hit.length) throw new Error(`${context}: target ${targets[0]} matches no layer; layers look like ${names.slice(0, 3).join(', ')}`);
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

/** Throws unless `value` is a positive integer, naming the option. */
export function positiveInt(value: number, option: string, method: string): void {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${method}: option "${option}" must be a positive integer, got ${value}`);
}
