import { Module, nameMatcher } from '@fpt/core';
import type { VitHooks } from '../hooks';
import type { VitModel } from '../model';
import { capability, type Capability, type Mergeable } from './capabilities';
import { composeHooks } from './compose';
import type { ForwardContext } from './context';
import type { AttachedMethod, Method } from './method';

/**
 * Methods attached to one backbone: the shared machinery of every adapted model (and of FPT+'s
 * side network). Freezes the backbone, attaches the methods in order, unfreezes what they train,
 * composes their hooks, and refuses combinations their capabilities forbid.
 */
export class MethodStack {
  /** Each method's parameters under its name (`lora.*`, `vpt-deep.*`). */
  readonly module = new Module();
  /** The attached methods, in order. */
  readonly parts: readonly AttachedMethod[];
  /** Backbone parameter names the methods train. */
  readonly unfrozen: readonly string[];

  /**
   * @param backbone - frozen here, then partly unfrozen by the methods
   * @param methods - in application order (hooks compose in this order)
   * @throws when a method appears twice, an exclusive method is combined, or two methods replace
   *   the features; nothing stays attached then
   */
  constructor(
    readonly backbone: VitModel,
    readonly methods: readonly Method[],
  ) {
    const factories = new Set<unknown>();
    for (const m of methods) {
      if (factories.has(m.factory)) throw new Error(`adapt: method "${m.name}" is given twice`);
      factories.add(m.factory);
    }
    const attached: Attached[] = [];
    try {
      for (const method of methods) attached.push({ method, part: method.attach(backbone) });
      checkCombination(attached);
    } catch (err) {
      for (const { part } of attached) {
        part.dispose?.();
        part.module.dispose();
      }
      throw err;
    }
    this.parts = attached.map(({ part }) => part);
    for (const { method, part } of attached) this.module.addModule(method.name, part.module);
    backbone.freeze();
    const patterns = this.parts.flatMap((p) => p.unfreeze).map(nameMatcher);
    this.unfrozen = backbone
      .namedParameters()
      .map((p) => p.name)
      .filter((n) => patterns.some((m) => m(n)));
    this.unfrozen.forEach((n) => backbone.unfreeze(n));
  }

  /** Every capability of every method. */
  get capabilities(): Capability[] {
    return this.parts.flatMap((p) => p.capabilities);
  }

  /** The composed hooks for one call. */
  hooks(ctx: ForwardContext): VitHooks {
    return composeHooks(this.parts.map((p) => p.hooks(ctx)));
  }

  /** Whether training back-propagates through the backbone's activations. */
  get backpropagatesThroughBackbone(): boolean {
    return this.parts.some((p) => p.backpropagatesThroughBackbone);
  }

  /** The mergeable capability of a single-method stack. */
  mergeable(): Mergeable | undefined {
    const [only, ...others] = this.parts;
    return only && others.length === 0 ? capability(only.capabilities, 'mergeable') : undefined;
  }

  /** Freezes again what the methods unfroze and frees their parameters (the backbone stays). */
  dispose(): void {
    this.unfrozen.forEach((n) => this.backbone.freeze(n));
    this.parts.forEach((p) => p.dispose?.());
    this.module.dispose();
  }
}

/** A method and what it attached. */
interface Attached {
  method: Method;
  part: AttachedMethod;
}

function checkCombination(attached: Attached[]): void {
  if (attached.length > 1) {
    for (const { method, part } of attached) {
      const exclusive = capability(part.capabilities, 'exclusive');
      if (exclusive) throw new Error(`adapt: "${method.name}" cannot be combined with other methods: ${exclusive.reason}`);
    }
  }
  const having = (kind: Capability['kind']) =>
    attached.filter(({ part }) => capability(part.capabilities, kind)).map(({ method }) => method.name);
  const replacing = having('replacesFeatures');
  if (replacing.length > 1) throw new Error(`adapt: ${replacing.join(' and ')} both replace the features the head reads; use one`);
  const needing = having('needsInputs');
  if (needing.length > 1) throw new Error(`adapt: ${needing.join(' and ')} both need extra inputs in the batch; use one`);
}
