import * as tf from '@tensorflow/tfjs-core';
import { configFromStrings, crossEntropy, linear, Module, nameMatcher, readSafetensors, Rng, writeSafetensors, type WritableTensor } from '@fpt/core';
import { clsToken, vitForward, type VitModel } from '@fpt/backbone-vit';
import { composeHooks } from './compose';
import { addDense } from './layers';
import type { MethodPart } from './part';
import { baselineMethods } from './registry';

/** One method and its options, as given to {@link applyMethods}. */
export interface MethodSpec {
  /** Registered name (`lora`, `vpt-deep`, ...). */
  name: string;
  /** Options; missing ones take the method's defaults. */
  config?: Record<string, unknown>;
}

/** Parameter accounting of an applied method, with DESIGN.md §3's denominator. */
export interface MethodParameterCounts {
  /** Every trainable element: the methods' parameters, the head, and backbone parameters they unfroze. */
  learnable: number;
  /** The backbone (with its own head, if any) plus the methods' new parameters and the new head. */
  total: number;
  /** learnable / total, percent. */
  sharePercent: number;
}

/** The JSON saved beside a method's weights. */
export interface SavedMethodConfig {
  /** Format tag. */
  format: 'fpt-petl/1';
  /** The methods, in application order, with complete configs. */
  methods: Array<{ name: string; config: Record<string, unknown> }>;
  /** Classes of the head. */
  numClasses: number;
}

/**
 * One or more methods attached to a frozen backbone, with a new classifier head (always trainable,
 * always saved). The backbone's own head, if it has one, is not used.
 */
export class AppliedMethod {
  /** The methods' parameters (`method.*`, or `method<i>.*` when combined) and the head (`head.fc.*`). */
  readonly module = new Module();
  private readonly hooks;
  private readonly unfrozen: string[];

  /**
   * Use {@link applyMethods} / {@link applyMethod}.
   * @param backbone - the backbone (frozen here, except what the methods train)
   * @param specs - the methods with complete configs
   * @param parts - what each method built
   * @param numClasses - classes of the new head
   * @param seed - head initialisation seed
   */
  constructor(
    readonly backbone: VitModel,
    readonly specs: Array<{ name: string; config: Record<string, unknown> }>,
    private readonly parts: MethodPart[],
    readonly numClasses: number,
    seed: number,
  ) {
    parts.forEach((p, i) => this.module.addModule(specs.length === 1 ? 'method' : `method${i}`, p.module));
    const head = this.module.addModule('head', new Module());
    addDense(head, 'fc', numClasses, backbone.config.hiddenSize, 'trunc', new Rng(seed));
    this.hooks = composeHooks(parts.map((p) => p.hooks));
    backbone.freeze();
    const patterns = parts.flatMap((p) => p.unfreeze).map(nameMatcher);
    this.unfrozen = backbone
      .namedParameters()
      .map((p) => p.name)
      .filter((n) => patterns.some((m) => m(n)));
    this.unfrozen.forEach((n) => backbone.unfreeze(n));
  }

  /** The method names, joined with `+`. */
  get name(): string {
    return this.specs.map((s) => s.name).join('+');
  }

  /** Whether every method can be folded into the backbone weights. */
  get mergeable(): boolean {
    return this.parts.length === 1 && this.parts[0].mergeable;
  }

  /** Whether training back-propagates through the backbone's activations. */
  get gradientsThroughBackbone(): boolean {
    return this.parts.some((p) => p.gradientsThroughBackbone);
  }

  /** Backbone parameters the methods train. */
  get trainedBackboneParameters(): string[] {
    return [...this.unfrozen];
  }

  /** Everything that trains: the methods' and head's parameters, then unfrozen backbone ones. */
  trainableVariables(): tf.Variable[] {
    return [...this.module.trainableVariables(), ...this.unfrozen.map((n) => this.backbone.get(n))];
  }

  /**
   * Logits [B, numClasses] of NCHW pixels.
   * @param pixels - [B, C, H, W], normalised
   * @param options - training mode (dropout in methods that have it)
   */
  forward(pixels: tf.Tensor, options: { training?: boolean } = {}): tf.Tensor {
    const training = options.training ?? false;
    this.parts.forEach((p) => (p.training = training));
    const custom = this.parts.find((p) => p.features);
    const features = custom?.features
      ? custom.features(this.backbone, pixels, this.hooks, training)
      : clsToken(vitForward(this.backbone, pixels, { hooks: this.hooks, head: false }).features);
    return linear(features, this.module.get('head.fc.weight'), this.module.get('head.fc.bias'));
  }

  /** Mean cross-entropy against int32 labels [B]. */
  loss(pixels: tf.Tensor, labels: tf.Tensor, options: { training?: boolean } = {}): tf.Scalar {
    return crossEntropy(this.forward(pixels, options), labels);
  }

  /** Parameter counts with DESIGN.md §3's denominator (the backbone's own head included). */
  parameterCounts(): MethodParameterCounts {
    const count = (vs: tf.Variable[]) => vs.reduce((a, v) => a + v.size, 0);
    const learnable = count(this.trainableVariables());
    const total = count(this.backbone.namedParameters().map((p) => p.variable)) + count(this.module.namedParameters().map((p) => p.variable));
    return { learnable, total, sharePercent: (100 * learnable) / total };
  }

  /** Folds a mergeable method into the backbone weights. */
  merge(): void {
    if (!this.mergeable) throw new Error(`${this.name}: not mergeable${this.parts.length > 1 ? ' (combined methods are never merged)' : ''}`);
    this.parts[0].merge!();
  }

  /** Undoes {@link AppliedMethod.merge}. */
  unmerge(): void {
    if (!this.mergeable) throw new Error(`${this.name}: not mergeable`);
    this.parts[0].unmerge!();
  }

  /**
   * The method-only weights (the methods' parameters, the head, and the backbone parameters they
   * train, under `backbone.<name>`) as safetensors, and the JSON config that re-creates the method.
   * Save unmerged: merged LoRA/SSF weights live in the backbone.
   */
  save(): { weights: Uint8Array; config: string } {
    const tensors: Record<string, WritableTensor> = {};
    const put = (name: string, v: tf.Variable) => (tensors[name] = { dtype: 'float32', shape: v.shape, data: v.dataSync() as Float32Array });
    for (const p of this.module.namedParameters()) put(p.name, p.variable);
    for (const n of this.unfrozen) put(`backbone.${n}`, this.backbone.get(n));
    const config: SavedMethodConfig = { format: 'fpt-petl/1', methods: this.specs, numClasses: this.numClasses };
    return { weights: writeSafetensors(tensors, { metadata: { format: 'fpt-petl/1', methods: this.name } }), config: JSON.stringify(config, null, 2) };
  }

  /** Frees the methods' parameters and the head, and freezes again what they unfroze (the backbone itself stays). */
  dispose(): void {
    this.unfrozen.forEach((n) => this.backbone.freeze(n));
    this.module.dispose();
  }
}

/**
 * Attaches methods to a backbone, in order, with one shared new head. Combinations are refused when
 * they cannot compose: `full` with anything (it already trains everything), two methods that
 * replace the features (side-tuning), and the same method twice.
 * @param backbone - the backbone; frozen, then partly unfrozen by the methods
 * @param specs - methods and options (strings are converted as `--set` values are)
 * @param options - classes of the head (default 5) and its seed
 */
export function applyMethods(backbone: VitModel, specs: MethodSpec[], options: { numClasses?: number; seed?: number } = {}): AppliedMethod {
  if (specs.length === 0) throw new Error('applyMethods: no method given');
  const names = specs.map((s) => s.name);
  if (new Set(names).size !== names.length) throw new Error(`applyMethods: a method appears twice in ${names.join('+')}`);
  if (names.length > 1 && names.includes('full')) throw new Error('applyMethods: "full" trains every parameter already; it cannot be combined');
  if (names.length > 1 && names.includes('side-tuning')) {
    throw new Error('applyMethods: side-tuning replaces the features the head reads and cannot be combined with another method');
  }
  const numClasses = options.numClasses ?? 5;
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`applyMethods: "numClasses" must be a positive integer, got ${numClasses}`);
  const complete = specs.map((s) => {
    const method = baselineMethods.get(s.name);
    const strings = Object.fromEntries(Object.entries(s.config ?? {}).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
    const typed = Object.fromEntries(Object.entries(s.config ?? {}).filter(([, v]) => typeof v !== 'string'));
    for (const k of Object.keys(typed)) if (!(k in method.defaults)) throw new Error(`${s.name}: unknown option "${k}"; known options: ${Object.keys(method.defaults).join(', ')}`);
    const config = { ...configFromStrings(method.defaults, strings, s.name), ...typed } as Record<string, unknown>;
    return { name: s.name, config, method };
  });
  const parts: MethodPart[] = [];
  try {
    for (const c of complete) parts.push(c.method.apply(backbone, c.config));
  } catch (err) {
    parts.forEach((p) => p.module.dispose());
    throw err;
  }
  return new AppliedMethod(backbone, complete.map(({ name, config }) => ({ name, config })), parts, numClasses, options.seed ?? 0);
}

/** {@link applyMethods} for one method. */
export function applyMethod(backbone: VitModel, name: string, config: Record<string, unknown> = {}, options: { numClasses?: number; seed?: number } = {}): AppliedMethod {
  return applyMethods(backbone, [{ name, config }], options);
}

/**
 * Re-creates a saved method on a (fresh) backbone and loads its weights.
 * @param backbone - a backbone with the same base weights as the one trained
 * @param weights - the safetensors bytes from `save()`
 * @param configJson - the JSON from `save()`
 * @throws on a malformed config, a missing or unexpected key, or a shape mismatch (naming the key)
 */
export function loadMethod(backbone: VitModel, weights: Uint8Array, configJson: string): AppliedMethod {
  let saved: SavedMethodConfig;
  try {
    saved = JSON.parse(configJson) as SavedMethodConfig;
  } catch (err) {
    throw new Error(`loadMethod: config is not JSON: ${(err as Error).message}`);
  }
  if (saved?.format !== 'fpt-petl/1' || !Array.isArray(saved.methods)) throw new Error('loadMethod: config "format" must be "fpt-petl/1" with a "methods" list');
  const applied = applyMethods(backbone, saved.methods, { numClasses: saved.numClasses });
  const file = readSafetensors(weights, 'method weights');
  const own: Record<string, tf.Tensor> = {};
  const back: Record<string, tf.Tensor> = {};
  try {
    for (const [name, e] of file.entries()) {
      const t = tf.tensor(e.data, e.shape, e.dtype);
      if (name.startsWith('backbone.')) back[name.slice(9)] = t;
      else own[name] = t;
    }
    applied.module.loadState(own, { source: 'method weights' });
    const expected = applied.trainedBackboneParameters;
    const extra = Object.keys(back).filter((n) => !expected.includes(n));
    const missing = expected.filter((n) => !(n in back));
    if (extra.length || missing.length) {
      throw new Error(`loadMethod: backbone keys do not match the method: missing [${missing.join(', ')}], unexpected [${extra.join(', ')}]`);
    }
    for (const [n, t] of Object.entries(back)) {
      const v = backbone.get(n);
      if (v.shape.join() !== t.shape.join()) throw new Error(`loadMethod: key "backbone.${n}" has shape [${t.shape}], expected [${v.shape}]`);
      v.assign(t);
    }
  } catch (err) {
    applied.dispose();
    throw err;
  } finally {
    tf.dispose([...Object.values(own), ...Object.values(back)]);
  }
  return applied;
}
