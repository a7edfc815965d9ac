import * as tf from '@tensorflow/tfjs-core';
import {
  attention,
  bindingLimit,
  bindingLimitMessage,
  dims,
  gelu,
  inBatchSlice,
  layerNorm,
  linear,
  linearGelu,
  mergeHeads,
  recordingGradients,
  splitHeads,
  unitsPerSlice,
} from '@fpt/core';
import type { Module } from '@fpt/core';
import type { VitConfig } from './config';
import type { VitHooks } from './hooks';
import { resamplePosEmbed } from './resample';

/** The weights and architecture a forward pass needs: a {@link VitModel} or any module with timm names. */
export interface VitLike {
  /** The architecture. */
  readonly config: VitConfig;
  /** Looks a parameter up by its timm name. */
  get: Module['get'];
}

/** What one block computes besides its output, for the layers that ask. */
export interface BlockInternals {
  /** Keys per head [B, H, N, d]. */
  keys: tf.Tensor;
  /** Values per head [B, H, N, d]. */
  values: tf.Tensor;
  /** Attention probabilities [B, H, N, N] (softmax over the last axis, the keys). */
  probs: tf.Tensor;
}

/** Options of {@link blockForward}. */
export interface BlockOptions {
  /** Method hooks. */
  hooks?: VitHooks;
  /**
   * Extra tokens [B, M, D] appended after the sequence for this block only: they take part in
   * attention, and their outputs are dropped (FPT+'s side network feeds its fused prompts here).
   */
  extraTokens?: tf.Tensor;
  /**
   * Return the attention probabilities (default true). Without them no [B, H, N, N] tensor is made
   * besides what backward keeps, and on WebGPU the attention can be computed in slices.
   */
  probs?: boolean;
}

/** What {@link blockForward} returns without the probabilities (`probs: false`). */
export type BlockResult = { out: tf.Tensor } & Omit<BlockInternals, 'probs'> & { probs?: tf.Tensor };

// Each linear map, with its hooks, runs in its own scope, so its temporaries (LoRA's rank-r
// products and padded update, (IA)³'s scaled input) are freed as soon as it returns, as PyTorch
// frees them; under a gradient tape what backward needs is saved by tfjs. Hooks therefore return
// their tensors and keep none.
function lin(vit: VitLike, name: string, input: tf.Tensor, hooks?: VitHooks, weight: tf.Tensor = vit.get(`${name}.weight`)): tf.Tensor {
  return tf.tidy(() => {
    const x = hooks?.linearInput ? hooks.linearInput(name, input) : input;
    const y = linear(x, weight, vit.get(`${name}.bias`));
    return hooks?.linear ? hooks.linear(name, x, y) : y;
  });
}

function act(name: string, x: tf.Tensor, hooks?: VitHooks): tf.Tensor {
  const y = gelu(x);
  return hooks?.activation ? hooks.activation(name, y) : y;
}

// The MLP's hidden layer, GELU(fc1(x)). Without hooks on it, linearGelu applies fc1's bias and
// the GELU as the product is stored, when no gradient is recorded and the backend has the fused
// kernel (the hidden layer is written once, not three times).
function hidden(vit: VitLike, pre: string, x: tf.Tensor, hooks?: VitHooks): tf.Tensor {
  if (hooks?.linearInput || hooks?.linear || hooks?.activation) return act(`${pre}.mlp.act`, lin(vit, `${pre}.mlp.fc1`, x, hooks), hooks);
  return linearGelu(x, vit.get(`${pre}.mlp.fc1.weight`), vit.get(`${pre}.mlp.fc1.bias`));
}

function norm(vit: VitLike, name: string, x: tf.Tensor, hooks?: VitHooks): tf.Tensor {
  const y = layerNorm(x, vit.get(`${name}.weight`), vit.get(`${name}.bias`), vit.config.layerNormEps);
  return hooks?.norm ? hooks.norm(name, y) : y;
}

/**
 * Patch + CLS + position embeddings of NCHW pixels. Patchify is a reshape and a matmul (the same
 * numbers as a strided convolution, with no kernel the WASM backend lacks for training).
 * Position embeddings are resampled when the input's grid differs from the config's.
 * @param vit - the model
 * @param pixels - [B, C, H, W], normalised
 * @param hooks - method hooks
 * @returns tokens [B, 1 + g*g, D]
 */
export function embed(vit: VitLike, pixels: tf.Tensor, hooks?: VitHooks): tf.Tensor {
  const { patchSize: p, hiddenSize: d, numChannels } = vit.config;
  if (pixels.rank !== 4 || pixels.shape[1] !== numChannels) {
    throw new Error(`ViT input must be NCHW [B, ${numChannels}, H, W], got [${pixels.shape}]`);
  }
  const [b, c, h, w] = pixels.shape as [number, number, number, number]; // rank 4, checked above
  if (h !== w || h % p !== 0) {
    throw new Error(`ViT input must be square with a side divisible by the patch size ${p}, got ${h}x${w}`);
  }
  const g = h / p;
  // [B, C, g, p, g, p] -> [B, g, g, C, p, p] done as 4-D transposes (5-D+ ones are slow on WASM).
  const rowsSplit = tf.reshape(pixels, [b * c * g, p, g, p]);
  const perPatch = tf.transpose(rowsSplit, [0, 2, 1, 3]); // [B*C*g, g, p, p]
  const byChannel = tf.reshape(perPatch, [b, c, g * g, p * p]);
  const patches = tf.reshape(tf.transpose(byChannel, [0, 2, 1, 3]), [b, g * g, c * p * p]);
  const weight = tf.reshape(vit.get('patch_embed.proj.weight'), [d, c * p * p]);
  const tokens = lin(vit, 'patch_embed.proj', patches, hooks, weight);
  const cls = tf.tile(vit.get('cls_token'), [b, 1, 1]);
  const pos = resamplePosEmbed(vit.get('pos_embed'), g, vit.config.posEmbedResample);
  const x = tf.add(tf.concat([cls, tokens], 1), pos);
  return hooks?.embeddings ? hooks.embeddings(x) : x;
}

/**
 * One pre-norm block: x + attn(norm1(x)), then + mlp(norm2(.)).
 *
 * On WebGPU, when one of the block's per-sample tensors for the whole batch (q, k and v together
 * [B, N, 3D], the MLP's hidden layer [B, N, 4D]) would pass the storage-binding limit in force
 * (`bindingLimit` of `@fpt/core`), the batch is computed in slices of whole samples and the
 * outputs put together: the same numbers, per-sample dropout masks included (`inBatchSlice`).
 * Hooks then see a slice of the batch; every method's hooks here act per sample.
 * @param vit - the model
 * @param layer - block index
 * @param x - tokens [B, N, D]
 * @param options - hooks, extra tokens, whether to return the attention probabilities
 * @returns the block output and its keys, values and (unless `probs: false`) attention
 *   probabilities (over N + M tokens when extra tokens are given)
 * @throws on WebGPU, when the probabilities are asked for and pass the binding limit
 */
export function blockForward(
  vit: VitLike,
  layer: number,
  x: tf.Tensor,
  options?: Omit<BlockOptions, 'probs'> & { probs?: true },
): { out: tf.Tensor } & BlockInternals;
export function blockForward(vit: VitLike, layer: number, x: tf.Tensor, options: BlockOptions): BlockResult;
export function blockForward(vit: VitLike, layer: number, x: tf.Tensor, options: BlockOptions = {}): BlockResult {
  // One scope per block: its intermediates are freed when it ends, not when the whole forward
  // pass does (under a gradient tape, what backward needs stays saved by tfjs).
  const body = (input: tf.Tensor, first: number, extraTokens?: tf.Tensor) =>
    inBatchSlice(first, () => blockBody(vit, layer, input, { ...options, extraTokens }) as unknown as tf.NamedTensorMap);
  const batch = x.shape[0] as number;
  const per = samplesPerSlice(vit, layer, x, options);
  if (per >= batch) return tf.tidy(() => body(x, 0, options.extraTokens)) as unknown as BlockResult;
  const slices: tf.NamedTensorMap[] = [];
  for (let first = 0; first < batch; first += per) {
    const n = Math.min(per, batch - first);
    const cut = (t: tf.Tensor) => tf.slice(t, [first, ...t.shape.slice(1).map(() => 0)], [n, ...t.shape.slice(1)]);
    slices.push(tf.tidy(() => body(cut(x), first, options.extraTokens && cut(options.extraTokens))));
  }
  const joined = tf.tidy(() => {
    // Along the batch (concat's default axis).
    // There is a slice (per < batch), and every slice holds the first one's keys.
    const cat = (key: string) => tf.concat(slices.map((s) => s[key]!));
    return Object.fromEntries(Object.entries(slices[0]!).flatMap(([key, t]) => (t ? [[key, cat(key)]] : [])));
  });
  tf.dispose(slices);
  return joined as unknown as BlockResult;
}

/**
 * Samples per slice of block `layer` so that none of its per-sample tensors passes the binding
 * limit in force (all of them off WebGPU); at least one (a sample that alone passes it is then
 * refused, by the tensor, with one sentence).
 */
function samplesPerSlice(vit: VitLike, layer: number, x: tf.Tensor, options: BlockOptions): number {
  const [batch, n] = dims(x, ['B', 'N', 'D'], `block ${layer}: x`);
  const limit = bindingLimit();
  if (!limit) return batch;
  const tokens = n + (options.extraTokens?.shape[1] ?? 0);
  const { hiddenSize: d, numHeads } = vit.config;
  if (options.probs ?? true) {
    // The probabilities as one tensor: refused now, before any of the block is computed.
    const bytes = batch * numHeads * tokens * tokens * 4;
    if (bytes > limit.bytes) {
      throw new Error(
        bindingLimitMessage(
          `block ${layer}: the attention probabilities tensor [${batch},${numHeads},${tokens},${tokens}] asked for`,
          bytes,
          limit,
        ),
      );
    }
  }
  // The widest per-token tensors: q, k and v together, and the MLP's hidden layer (the attention's
  // scores are sliced by the attention itself).
  const [mlpDim] = dims(vit.get(`blocks.${layer}.mlp.fc1.weight`), ['hidden', 'D'], `blocks.${layer}.mlp.fc1.weight`);
  const width = Math.max(3 * d, mlpDim);
  return Math.max(1, unitsPerSlice(batch, tokens * width * 4));
}

function blockBody(vit: VitLike, layer: number, x: tf.Tensor, options: BlockOptions): BlockResult {
  const { hooks, extraTokens } = options;
  const { hiddenSize: d, numHeads } = vit.config;
  const pre = `blocks.${layer}`;
  const n = x.shape[1] as number;
  const input = extraTokens ? tf.concat([x, extraTokens], 1) : x;
  // Without a gradient tape the attention runs in its own scope: its norm, fused qkv, per-head
  // copies and merged heads are freed before the MLP runs, so the block's peak is the larger half,
  // not the sum (as PyTorch frees them under no_grad). Training keeps one scope per block: its
  // peak then falls at the same moment at every depth, which the bench's depth/batch memory
  // extrapolation relies on (with the inner scope, LoRA's and VPT-deep's held-out steps drifted
  // from the fit by 1.8 % and 3 %).
  type AttentionHalf = { attnOut: tf.Tensor; k: tf.Tensor; v: tf.Tensor; probs?: tf.Tensor };
  const attentionHalf = (): AttentionHalf => {
    const h = norm(vit, `${pre}.norm1`, input, hooks);
    // Scoped steps: the fused qkv and its thirds, and the heads' output before merging, are freed
    // once the per-head copies (and the projection) exist, not at the block's end.
    const heads = () => tf.split(lin(vit, `${pre}.attn.qkv`, h, hooks), [d, d, d], 2).map((t) => splitHeads(t, numHeads));
    const [q, k, v] = tf.tidy(heads) as [tf.Tensor, tf.Tensor, tf.Tensor]; // three sizes, three parts
    const { attnOut, probs } = tf.tidy(() => {
      const { out: attended, probs } = attention(q, k, v, { probs: options.probs ?? true });
      const attnOut = lin(vit, `${pre}.attn.proj`, mergeHeads(attended), hooks);
      return probs ? { attnOut, probs } : { attnOut };
    }) as { attnOut: tf.Tensor; probs?: tf.Tensor };
    return probs ? { attnOut, k, v, probs } : { attnOut, k, v };
  };
  const half = recordingGradients() ? attentionHalf() : tf.tidy(attentionHalf);
  const { k, v, probs } = half;
  let attnOut = half.attnOut;
  if (hooks?.residual) attnOut = hooks.residual(layer, 'attn', input, attnOut);
  const x1 = tf.add(input, attnOut);
  const h2 = norm(vit, `${pre}.norm2`, x1, hooks);
  // The hidden layer before and after the activation is freed once fc2 has its output.
  let mlpOut = tf.tidy(() => lin(vit, `${pre}.mlp.fc2`, hidden(vit, pre, h2, hooks), hooks));
  if (hooks?.residual) mlpOut = hooks.residual(layer, 'mlp', x1, mlpOut);
  const x2 = tf.add(x1, mlpOut);
  const out = extraTokens ? tf.slice(x2, [0, 0, 0], [-1, n, -1]) : x2;
  return { out, keys: k, values: v, probs };
}

/** Final LayerNorm of all tokens. */
export function finalNorm(vit: VitLike, x: tf.Tensor, hooks?: VitHooks): tf.Tensor {
  return norm(vit, 'norm', x, hooks);
}

/**
 * The classifier on the CLS token of normed features [B, N, D] -> [B, numClasses].
 * @throws when the model has no head
 */
export function classify(vit: VitLike, features: tf.Tensor, hooks?: VitHooks): tf.Tensor {
  if (vit.config.numClasses === 0) throw new Error('ViT has no classifier head (numClasses is 0)');
  return lin(vit, 'head', clsToken(features), hooks);
}

/** The CLS token of tokens [B, N, D] -> [B, D] (a slice: no gather, whose gradient WASM lacks). */
export function clsToken(features: tf.Tensor): tf.Tensor {
  return tf.reshape(tf.slice(features, [0, 0, 0], [-1, 1, -1]), [features.shape[0], features.shape[2] as number]);
}

/** What a collected block hands to {@link BlockLoopOptions.onLayer}. */
export interface FrozenLayer extends BlockInternals {
  /** The block's input hidden states [B, N, D] (after `beforeBlock`). */
  hidden: tf.Tensor;
}

/** Options of {@link runBlocks}, the one block loop every forward pass uses. */
export interface BlockLoopOptions<T> {
  /** Method hooks (`beforeBlock` runs before each block; the rest inside it). */
  hooks?: VitHooks;
  /** Extra tokens per block (see {@link BlockOptions.extraTokens}). */
  extraTokens?: (layer: number) => tf.Tensor | undefined;
  /** Blocks whose internals are handed to `onLayer`. */
  collect?: Iterable<number>;
  /** Receives a collected block's internals and returns what to keep of them. */
  onLayer?: (layer: number, internals: FrozenLayer) => T;
  /** Last block to run (inclusive); default the last block of the model. */
  stopAfter?: number;
  /**
   * Run each block inside its own `tf.tidy`, so peak memory does not grow with depth: only the
   * block outputs and what `onLayer` returns survive, and the input tokens are disposed. For
   * frozen inference only: inside a gradient function it would free what back-propagation needs.
   */
  tidyPerBlock?: boolean;
}

/**
 * The block loop: `beforeBlock` hook, block i with its extra tokens, collection of the block's
 * internals. `vitForward`, `frozenForward` and the FPT+ side network all run through it.
 * @param vit - the model
 * @param tokens - embedded tokens [B, N, D]
 * @param options - hooks, extra tokens, collected layers, stop-after, tidy per block
 * @returns the output tokens of the last block run, and what `onLayer` returned per layer
 */
export function runBlocks<T = FrozenLayer>(
  vit: VitLike,
  tokens: tf.Tensor,
  options: BlockLoopOptions<T> = {},
): { out: tf.Tensor; perLayer: Map<number, T> } {
  const { hooks, tidyPerBlock } = options;
  const collect = new Set(options.collect ?? []);
  checkLayers(vit, collect);
  const last = options.stopAfter ?? vit.config.numLayers - 1;
  if (!Number.isInteger(last) || last < -1 || last >= vit.config.numLayers) {
    throw new Error(`runBlocks: "stopAfter" ${last} out of range: the model has blocks 0..${vit.config.numLayers - 1}`);
  }
  const perLayer = new Map<number, T>();
  const onLayer = options.onLayer ?? ((_l: number, internals: FrozenLayer) => internals as unknown as T);
  let x = tokens;
  for (let i = 0; i <= last; i++) {
    const step = (): tf.Tensor => {
      const input = hooks?.beforeBlock ? hooks.beforeBlock(i, x) : x;
      // The probabilities only where they are collected (on WebGPU they may pass the binding limit).
      const r = blockForward(vit, i, input, { hooks, extraTokens: options.extraTokens?.(i), probs: collect.has(i) });
      if (collect.has(i)) {
        const kept = onLayer(i, { hidden: tidyPerBlock ? tf.clone(input) : input, keys: r.keys, values: r.values, probs: r.probs! });
        if (tidyPerBlock) keepAll(kept as tf.TensorContainer);
        perLayer.set(i, kept);
      } else if (!tidyPerBlock) {
        // Not wanted: free them now rather than at the caller's scope end (back-propagation keeps
        // its own copies of what it needs).
        tf.dispose([r.keys, r.values]);
      }
      return r.out;
    };
    if (tidyPerBlock) {
      const next = tf.tidy(step);
      x.dispose();
      x = next;
    } else {
      x = step();
    }
  }
  return { out: x, perLayer };
}

/** Options of {@link vitForward}. */
export interface VitForwardOptions {
  /** Method hooks. */
  hooks?: VitHooks;
  /** Blocks whose keys, values and attention probabilities to return. */
  collect?: number[];
  /** Extra tokens per block (see {@link BlockOptions.extraTokens}). */
  extraTokens?: (layer: number) => tf.Tensor | undefined;
  /** Run the model's own classifier head (default true; PETL methods bring their own head). */
  head?: boolean;
  /**
   * Free each block's intermediates when the next block has its input (see
   * {@link BlockLoopOptions.tidyPerBlock}): only where no gradient flows through the blocks.
   * Without it every intermediate stays alive until the caller's scope ends (default false).
   */
  tidyPerBlock?: boolean;
}

/** The result of {@link vitForward}. */
export interface VitOutput {
  /** Final normed tokens [B, N, D] (timm's `forward_features`, HF's `last_hidden_state`). */
  features: tf.Tensor;
  /** Classifier logits [B, numClasses], absent when the model has no head. */
  logits?: tf.Tensor;
  /** Per collected block: its input hidden states and attention internals. */
  layers: Map<number, FrozenLayer>;
}

/**
 * The full differentiable forward pass. Call it inside `tf.tidy` or a gradient function; every
 * intermediate stays alive until then, unless `tidyPerBlock`. For frozen feature extraction use {@link frozenForward}.
 * @param vit - the model
 * @param pixels - [B, C, H, W], normalised
 * @param options - hooks, collected layers, extra tokens
 */
export function vitForward(vit: VitLike, pixels: tf.Tensor, options: VitForwardOptions = {}): VitOutput {
  const { hooks } = options;
  // The patches and their products are freed before the first block, not at the caller's scope end.
  const tokens = tf.tidy(() => embed(vit, pixels, hooks));
  const run = runBlocks(vit, tokens, {
    hooks,
    collect: options.collect,
    extraTokens: options.extraTokens,
    tidyPerBlock: options.tidyPerBlock,
  });
  const features = finalNorm(vit, run.out, hooks);
  const logits = vit.config.numClasses > 0 && options.head !== false ? classify(vit, features, hooks) : undefined;
  return { features, logits, layers: run.perLayer };
}

/** Options of {@link frozenForward}. */
export interface FrozenForwardOptions<T> {
  /** Blocks whose internals are passed to `onLayer`. */
  layers: number[];
  /**
   * Receives a collected block's internals and returns what to keep (tensors in the result are
   * kept; everything else of the block is freed before the next block runs).
   */
  onLayer: (layer: number, internals: FrozenLayer) => T;
  /** Also compute the final features and logits (default false: stop after the last collected block). */
  runToEnd?: boolean;
}

/**
 * Frozen feature extraction: {@link runBlocks} with a `tf.tidy` per block, so peak memory does
 * not grow with depth, stopping after the last collected layer unless `runToEnd`. Call it
 * outside any gradient function (inside one, tfjs would record every block for back-propagation).
 * @param vit - the (frozen) model
 * @param pixels - [B, C, H, W], normalised
 * @param options - which layers, what to keep of them
 * @returns what `onLayer` returned per layer, and features/logits when `runToEnd`
 */
export function frozenForward<T extends tf.TensorContainer>(
  vit: VitLike,
  pixels: tf.Tensor,
  options: FrozenForwardOptions<T>,
): { perLayer: Map<number, T>; features?: tf.Tensor; logits?: tf.Tensor } {
  checkLayers(vit, new Set(options.layers));
  const stopAfter = options.runToEnd ? vit.config.numLayers - 1 : Math.max(-1, ...options.layers);
  const tokens = tf.tidy(() => embed(vit, pixels));
  const run = runBlocks(vit, tokens, { collect: options.layers, onLayer: options.onLayer, stopAfter, tidyPerBlock: true });
  if (!options.runToEnd) {
    run.out.dispose();
    return { perLayer: run.perLayer };
  }
  const features = tf.tidy(() => finalNorm(vit, run.out));
  run.out.dispose();
  const logits = vit.config.numClasses > 0 ? tf.tidy(() => classify(vit, features)) : undefined;
  return { perLayer: run.perLayer, features, logits };
}

function keepAll(container: tf.TensorContainer): void {
  if (container instanceof tf.Tensor) tf.keep(container);
  else if (Array.isArray(container)) container.forEach((c) => keepAll(c as tf.TensorContainer));
  else if (container && typeof container === 'object') Object.values(container).forEach((c) => keepAll(c as tf.TensorContainer));
}

function checkLayers(vit: VitLike, layers: Set<number>): void {
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 0 || l >= vit.config.numLayers) {
      throw new Error(`ViT layer ${l} out of range: the model has blocks 0..${vit.config.numLayers - 1}`);
    }
  }
}
