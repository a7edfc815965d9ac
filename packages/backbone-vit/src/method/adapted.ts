import * as tf from '@tensorflow/tfjs-core';
import {
  adamwStateDict,
  adamwStateFromDict,
  loadStateDict,
  stateDict,
  stateDictAsync,
  type AdamW,
  crossEntropy,
  linear,
  Module,
  numel,
  recordingGradients,
  readSafetensors,
  Rng,
  truncatedNormal,
  writeSafetensors,
  groupParameters,
  type NamedParameter,
  type NamedVariable,
  type ParameterReport,
  type StateDict,
} from '@fpt/core';
import { clsToken, vitForward } from '../forward';
import type { VitModel } from '../model';
import { batchShapes, capability, type NeedsInputs, type PrepareContext } from './capabilities';
import { EVAL, type ForwardContext } from './context';
import type { AttachedMethod, Batch, Method, MethodFactory, SavedMethod } from './method';
import { savedMethod, type MethodRegistry } from './registry';
import { MethodStack } from './stack';

/** Options of {@link adapt}. */
export interface AdaptOptions {
  /** Classes C of the new head (default 5). */
  numClasses?: number;
  /** Seed of the head's initialisation (default 0). */
  seed?: number;
}

/** Parameter accounting; the share divides by every parameter, learnable and frozen ([parameter counts](../../../../docs/method.md#parameter-counts)). */
export interface ParameterCounts {
  /** Every trainable element: the methods' parameters, the new head, and backbone parameters they unfroze. */
  learnable: number;
  /** The backbone as loaded (its own head included unless a method replaces it), the methods' parameters and the new head. */
  total: number;
  /** 100 * learnable / total. */
  sharePercent: number;
}

/** The JSON saved beside an adapted model's weights (peft's adapter_config, in spirit). */
export interface AdaptedConfig {
  /** Format tag. */
  format: 'fpt-adapted/1';
  /** The methods in application order. */
  methods: SavedMethod[];
  /** Classes of the head. */
  numClasses: number;
  /** Head initialisation seed. */
  seed: number;
}

/**
 * A backbone with one or more methods and a new classifier head: the one model every method
 * (FPT+ included) is trained, evaluated, counted and saved through.
 *
 * Parameters: each method's under its name (`lora.*`, `fpt-plus.side_encoder.*`), the head as
 * `head.weight` [C, F] and `head.bias` [C]. The head reads the CLS token of the hooked backbone's
 * final features, or the features of a method that replaces them.
 */
export class AdaptedModel {
  /** The methods' parameters and the head. */
  readonly module = new Module();
  /** Set by {@link AdaptedModel.dispose}: the weights are gone, nothing can be saved. */
  private disposed = false;
  /** The attached methods. */
  readonly stack: MethodStack;
  /** Classes of the head. */
  readonly numClasses: number;
  private readonly seed: number;

  /**
   * Use {@link adapt}.
   * @param backbone - frozen here, except what the methods train
   * @param methods - in application order
   * @param options - head classes and seed
   */
  constructor(
    readonly backbone: VitModel,
    readonly methods: readonly Method[],
    options: AdaptOptions = {},
  ) {
    const numClasses = options.numClasses ?? 5;
    if (!Number.isInteger(numClasses) || numClasses < 1 || numClasses > 1_000_000) {
      throw new Error(`adapt: "numClasses" must be an integer in [1, 1000000], got ${numClasses}`);
    }
    if (methods.length === 0) throw new Error('adapt: no method given');
    this.numClasses = numClasses;
    this.seed = options.seed ?? 0;
    this.stack = new MethodStack(backbone, methods);
    // Each method's parameters under its name, beside the head (the stack owns them too: dispose is idempotent).
    this.stack.parts.forEach((p, i) => this.module.addModule(methods[i]!.name, p.module)); // one part per method, in order
    const width = capability(this.stack.capabilities, 'replacesFeatures')?.width ?? backbone.config.hiddenSize;
    const rng = new Rng(this.seed);
    this.module.addParameter('head.weight', truncatedNormal([numClasses, width], 0.02, rng));
    this.module.addParameter('head.bias', tf.zeros([numClasses]));
  }

  /** The method names joined with `+`. */
  get name(): string {
    return this.methods.map((m) => m.name).join('+');
  }

  /**
   * The extra inputs the model needs in `batch.extras` (FPT+'s keys and values), if any: whether a
   * batch needs them, and everything a cache needs to compute and serve them.
   */
  get needsInputs(): NeedsInputs | undefined {
    return capability(this.stack.capabilities, 'needsInputs');
  }

  /** Names of the extra inputs the methods need in `batch.extras` (empty for most methods). */
  get inputs(): readonly string[] {
    return this.needsInputs?.inputs ?? [];
  }

  /** Side of the square `batch.pixels` this model reads (the backbone's, or the method's own). */
  get imageSize(): number {
    return capability(this.stack.capabilities, 'replacesFeatures')?.imageSize ?? this.backbone.config.imageSize;
  }

  /** Shapes of the extra inputs for a batch (empty for most methods). */
  inputShapes(batch: number): Record<string, number[]> {
    const need = this.needsInputs;
    return need ? batchShapes(need, batch) : {};
  }

  /**
   * Computes the extra inputs of the method that needs them (FPT+: the LPM's selected keys and
   * values) from the backbone's input, without recording gradients. The caller disposes them.
   * @param pixels - the backbone's input [B, C, H, W], normalised
   * @param context - per-sample seeds
   */
  prepare(pixels: tf.Tensor, context?: PrepareContext): Record<string, tf.Tensor> {
    return this.needsInputs?.prepare(pixels, context) ?? {};
  }

  /**
   * The attachment a method of `factory` made on this model (its parameters, hooks and
   * capabilities), for tools that inspect one method's parts.
   * @param factory - the method's factory, e.g. `lora`
   */
  attachmentOf<C extends object>(factory: MethodFactory<C>): AttachedMethod | undefined {
    const i = this.methods.findIndex((m) => (m.factory as unknown) === factory);
    return i < 0 ? undefined : this.stack.parts[i];
  }

  /**
   * Logits [B, C]. Tidies itself: only the logits survive the call (inside a gradient function
   * the tape keeps what back-propagation needs).
   * @param batch - pixels and any extra inputs
   * @param ctx - training mode, seed, step (default: evaluation)
   * @throws when the batch is empty, an extra input is missing or the pixels do not fit
   */
  forward(batch: Batch, ctx: ForwardContext = EVAL): tf.Tensor {
    // Refused before any op: an empty batch fails deep inside tfjs's kernels (and leaks) otherwise.
    if (batch.pixels.shape[0] === 0)
      throw new Error(`${this.name}: the batch is empty (pixels [${batch.pixels.shape}]); expected at least one image`);
    for (const name of this.inputs) {
      if (!batch.extras?.[name])
        throw new Error(`${this.name}: the batch lacks extras.${name}; compute it with prepare() or load it from a cache`);
    }
    return tf.tidy(() => {
      const hooks = this.stack.hooks(ctx);
      const replacing = capability(this.stack.capabilities, 'replacesFeatures');
      const features = replacing
        ? replacing.features({ backbone: this.backbone, batch, hooks, ctx })
        : clsToken(vitForward(this.backbone, batch.pixels, { hooks, head: false, tidyPerBlock: this.freesPerBlock() }).features);
      return linear(features, this.module.get('head.weight'), this.module.get('head.bias'));
    });
  }

  /**
   * Whether the backbone's forward may free each block's activations once the next block has its
   * input: when no gradient is recorded (evaluation), or when none flows through the backbone
   * (only the head trains, as in linear probing). Without it a forward pass holds every block's
   * attention probabilities at once: at ViT-B/16's 1,025 tokens about 50 MB per image and block.
   */
  private freesPerBlock(): boolean {
    return !recordingGradients() || !this.stack.backpropagatesThroughBackbone;
  }

  /**
   * Mean cross-entropy of the forward's logits against labels.
   * @param batch - the batch
   * @param labels - int32 [B]
   * @param ctx - the call's context
   */
  loss(batch: Batch, labels: tf.Tensor, ctx: ForwardContext = EVAL): tf.Scalar {
    return tf.tidy(() => crossEntropy(this.forward(batch, ctx), labels));
  }

  /** Everything that trains: the methods' and head's parameters, then the backbone's unfrozen ones. */
  trainableVariables(): tf.Variable[] {
    return [...this.module.trainableVariables(), ...this.stack.unfrozen.map((n) => this.backbone.get(n))];
  }

  /** Names of {@link AdaptedModel.trainableVariables}, in the same order (`backbone.<name>` for unfrozen backbone parameters). */
  trainableNames(): string[] {
    const trainable = new Set(this.trainableVariables());
    return this.namedVariables()
      .filter((p) => trainable.has(p.variable))
      .map((p) => p.name);
  }

  /**
   * Every variable the adapted model owns or trains, by the names its files use: the methods' and
   * head's parameters, then the backbone's unfrozen ones as `backbone.<name>`. What
   * {@link AdaptedModel.save} writes and {@link AdaptedModel.loadWeights} fills (core's state dict path).
   */
  namedVariables(): NamedVariable[] {
    return [
      ...this.module.namedParameters().map((p) => ({ name: p.name, variable: p.variable })),
      ...this.stack.unfrozen.map((n) => ({ name: `backbone.${n}`, variable: this.backbone.get(n) })),
    ];
  }

  /** Names and shapes of the optimizer's variables, after checking it is this model's. */
  private optimizerParams(optimizer: AdamW): Array<{ name: string; shape: number[] }> {
    const variables = this.trainableVariables();
    if (optimizer.variables.length !== variables.length || optimizer.variables.some((v, i) => v !== variables[i])) {
      throw new Error(`${this.name}: the optimizer does not hold this model's trainable variables, in order`);
    }
    const nameOf = new Map(this.namedVariables().map((p) => [p.variable, p.name]));
    return variables.map((v) => {
      const name = nameOf.get(v);
      if (name === undefined) throw new Error(`${this.name}: trainable variable "${v.name}" has no name among the model's variables`);
      return { name, shape: v.shape };
    });
  }

  /**
   * An optimizer's state over this model's {@link AdaptedModel.trainableVariables} as one
   * safetensors file: core's `adamwStateDict` (`m.<name>` and `v.<name>` per parameter, the step
   * and learning rate in the metadata). With {@link AdaptedModel.loadOptimizerState} a run resumes
   * bit for bit.
   * @param optimizer - an AdamW over `trainableVariables()`
   */
  saveOptimizerState(optimizer: AdamW): Uint8Array {
    const { tensors, metadata } = adamwStateDict(optimizer.state(), this.optimizerParams(optimizer));
    return writeSafetensors(tensors, { metadata: { ...metadata, model: this.name } });
  }

  /**
   * Restores what {@link AdaptedModel.saveOptimizerState} wrote into an optimizer over this model's
   * trainable variables (core's `adamwStateFromDict`); everything is checked before anything changes.
   * @param optimizer - an AdamW over `trainableVariables()`
   * @param bytes - the safetensors file
   * @param source - names the file in errors
   * @throws naming the tensor or field at fault
   */
  loadOptimizerState(optimizer: AdamW, bytes: Uint8Array, source = 'optimizer state'): void {
    const file = readSafetensors(bytes, source);
    const params = this.optimizerParams(optimizer);
    optimizer.loadState(adamwStateFromDict(new Map(file.entries()), file.metadata, params, `${source} (${this.name})`));
  }

  /** Whether training back-propagates through the backbone's activations. */
  get backpropagatesThroughBackbone(): boolean {
    return this.stack.backpropagatesThroughBackbone;
  }

  /** Learnable and total parameters, from the built model. */
  counts(): ParameterCounts {
    const r = this.report();
    return { learnable: r.trainable, total: r.total, sharePercent: r.trainablePercent };
  }

  /**
   * peft-style report: groups of the backbone (`backbone.blocks`, ...), of each method and the head,
   * with total and trainable elements.
   * @param depth - dotted segments per group (default 2)
   */
  report(depth = 2): ParameterReport {
    const dropHead = !!capability(this.stack.capabilities, 'replacesHead');
    const counted = (name: string, p: NamedParameter) => ({ name, size: numel(p.variable.shape), trainable: p.trainable });
    const backbone = this.backbone
      .namedParameters()
      .filter((p) => !(dropHead && (p.name === 'head' || p.name.startsWith('head.'))))
      .map((p) => counted(`backbone.${p.name}`, p));
    const own = this.module.namedParameters().map((p) => counted(p.name, p));
    return groupParameters([...backbone, ...own], { depth });
  }

  /** Folds a single mergeable method into the backbone weights. */
  merge(): void {
    this.mergeable().merge();
  }

  /** Undoes {@link AdaptedModel.merge}. */
  unmerge(): void {
    this.mergeable().unmerge();
  }

  private mergeable() {
    const m = this.stack.mergeable();
    if (!m) throw new Error(`${this.name}: not mergeable${this.methods.length > 1 ? ' (combined methods are never merged)' : ''}`);
    return m;
  }

  /**
   * The method-only weights (the methods' parameters, the head, and the backbone parameters they
   * train, under `backbone.<name>`) as one safetensors file, and the JSON config that re-creates
   * the model with {@link loadAdapted}. Save unmerged: merged weights live in the backbone.
   * @throws when the model was disposed (it would write a file without tensors)
   */
  save(): { weights: Uint8Array; config: string } {
    this.checkSavable('save');
    return this.files(stateDict(this.namedVariables()));
  }

  /**
   * {@link AdaptedModel.save} reading the weights with `await data()`: the same files, on every
   * backend (WebGPU, in Node or in a browser, has no good synchronous read).
   * @throws when the model was disposed
   */
  async saveAsync(): Promise<{ weights: Uint8Array; config: string }> {
    this.checkSavable('saveAsync');
    return this.files(await stateDictAsync(this.namedVariables()));
  }

  private checkSavable(method: string): void {
    if (this.disposed)
      throw new Error(`AdaptedModel.${method}: ${this.name} was disposed (its weights are freed); save it before dispose()`);
  }

  /** The safetensors bytes and the JSON config for the read weights. */
  private files(tensors: StateDict): { weights: Uint8Array; config: string } {
    const config: AdaptedConfig = {
      format: 'fpt-adapted/1',
      methods: this.methods.map(savedMethod),
      numClasses: this.numClasses,
      seed: this.seed,
    };
    return {
      weights: writeSafetensors(tensors, { metadata: { format: 'fpt-adapted/1', methods: this.name } }),
      config: JSON.stringify(config, null, 2),
    };
  }

  /**
   * Loads weights saved by {@link AdaptedModel.save} into this model. Everything is checked first
   * (every key present, none unexpected, every shape and dtype, every value finite: core's
   * `loadParameters`, as `Module.loadState`), then assigned: a failed load changes nothing.
   * @param weights - safetensors bytes
   * @param source - names the file in errors
   */
  loadWeights(weights: Uint8Array, source = 'adapted weights'): void {
    const file = readSafetensors(weights, source);
    loadStateDict(this.namedVariables(), new Map(file.entries()), {
      source: `${source} for ${this.name}`,
      label: 'AdaptedModel.loadWeights',
    });
  }

  /** Frees the methods' parameters and the head, and freezes again what they unfroze (the backbone stays). */
  dispose(): void {
    this.disposed = true;
    this.stack.dispose();
    this.module.dispose();
  }
}

/**
 * Attaches methods to a backbone, in order, with one shared new head.
 * @param backbone - the backbone (or LPM); frozen, then partly unfrozen by the methods
 * @param methods - from factories such as `lora({ rank: 16 })`
 * @param options - classes of the head (default 5) and its seed
 * @throws when the methods cannot be combined (an exclusive method, two that replace the
 *   features, one given twice), naming them and the reason
 */
export function adapt(backbone: VitModel, methods: readonly Method[], options: AdaptOptions = {}): AdaptedModel {
  return new AdaptedModel(backbone, methods, options);
}

/**
 * Re-creates a saved adapted model on a backbone with the same base weights, and loads its weights.
 * @param backbone - the backbone
 * @param weights - the safetensors bytes from `save()`
 * @param configJson - the JSON from `save()`
 * @param registry - resolves method names to factories
 * @throws on a malformed config, an unknown method, a missing or unexpected key, or a shape mismatch
 */
export function loadAdapted(backbone: VitModel, weights: Uint8Array, configJson: string, registry: MethodRegistry): AdaptedModel {
  let saved: AdaptedConfig;
  try {
    saved = JSON.parse(configJson) as AdaptedConfig;
  } catch (err) {
    throw new Error(`loadAdapted: config is not JSON: ${(err as Error).message}`);
  }
  if (saved?.format !== 'fpt-adapted/1' || !Array.isArray(saved.methods)) {
    throw new Error('loadAdapted: config "format" must be "fpt-adapted/1" with a "methods" list');
  }
  const model = adapt(
    backbone,
    saved.methods.map((m) => registry.revive(m)),
    { numClasses: saved.numClasses, seed: saved.seed },
  );
  try {
    model.loadWeights(weights);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}
