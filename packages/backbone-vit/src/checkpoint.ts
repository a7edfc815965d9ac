import * as tf from '@tensorflow/tfjs-core';
import type { Dims, LoadStateReport, TensorEntry } from '@fpt/core';
import { vitConfig, type VitConfig } from './config';
import type { VitModel } from './model';

/** The two checkpoint naming schemes a ViT loads from. */
export type CheckpointNaming = 'timm' | 'hf';

/** A source of named tensors: a `SafetensorsFile` or a plain map. */
export interface TensorSource {
  /** Names of every tensor in the source. */
  names(): string[];
  /** The tensor of that name. */
  get(name: string): TensorEntry;
  /** Names the source in error messages. */
  readonly source?: string;
}

/** Options of {@link loadVitWeights}. */
export interface LoadVitOptions {
  /** The naming scheme; `auto` (default) detects it from the keys. */
  naming?: CheckpointNaming | 'auto';
  /** Only keys starting with this prefix are read, with the prefix removed (e.g. `lpm.`). */
  prefix?: string;
  /** Throw on missing or unknown keys (default true). Shape mismatches always throw. */
  strict?: boolean;
  /** Accept weights holding NaN or ±Infinity (default false: they throw, naming the parameter). */
  allowNonFinite?: boolean;
}

// HF ViT names (ViTForImageClassification; ViTModel lacks the `vit.` prefix) to timm names.
// query/key/value are handled apart: timm fuses them into one `qkv`.
const HF_BLOCK: Array<[string, string]> = [
  ['layernorm_before', 'norm1'],
  ['attention.output.dense', 'attn.proj'],
  ['layernorm_after', 'norm2'],
  ['intermediate.dense', 'mlp.fc1'],
  ['output.dense', 'mlp.fc2'],
];
const HF_TOP: Array<[string, string]> = [
  ['embeddings.cls_token', 'cls_token'],
  ['embeddings.position_embeddings', 'pos_embed'],
  ['embeddings.patch_embeddings.projection.weight', 'patch_embed.proj.weight'],
  ['embeddings.patch_embeddings.projection.bias', 'patch_embed.proj.bias'],
  ['layernorm.weight', 'norm.weight'],
  ['layernorm.bias', 'norm.bias'],
];
const QKV = ['query', 'key', 'value'] as const;

/**
 * The HF name of every tensor that makes up a timm-named parameter, given the HF root (`vit.` for
 * `ViTForImageClassification`, empty for `ViTModel`). A fused `qkv` maps to three HF tensors.
 * @param name - a timm parameter name
 * @param root - prefix of the HF encoder names
 */
export function hfNamesOf(name: string, root = 'vit.'): string[] {
  const top = HF_TOP.find(([, t]) => t === name);
  if (top) return [`${root}${top[0]}`];
  if (name === 'head.weight' || name === 'head.bias') return [`classifier.${name.slice(5)}`];
  const m = /^blocks\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (!m) throw new Error(`hfNamesOf: "${name}" is not a ViT parameter name`);
  const [, i, mid, kind] = m;
  const base = `${root}encoder.layer.${i}`;
  if (mid === 'attn.qkv') return QKV.map((q) => `${base}.attention.attention.${q}.${kind}`);
  const pair = HF_BLOCK.find(([, t]) => t === mid);
  if (!pair) throw new Error(`hfNamesOf: "${name}" is not a ViT parameter name`);
  return [`${base}.${pair[0]}.${kind}`];
}

/** Detects the naming scheme of a ViT checkpoint from its keys. */
export function detectNaming(names: string[]): CheckpointNaming {
  if (names.some((n) => n.includes('encoder.layer.') || n.includes('embeddings.'))) return 'hf';
  return 'timm';
}

/** What {@link vitCheckpointState} read: the values by parameter name, and the key bookkeeping. */
export interface VitCheckpointState extends LoadStateReport {
  /** New tensors by timm parameter name, shapes checked; the caller disposes them. */
  state: Record<string, tf.Tensor>;
}

/**
 * Reads a ViT checkpoint under HF or timm names into tensors keyed by the model's parameter names,
 * checking every shape, without assigning anything: {@link loadVitWeights} assigns them, and a
 * caller loading several parts at once can validate them all before changing any.
 * @param model - the model whose parameters are read
 * @param source - the checkpoint
 * @param options - naming, key prefix, strictness
 * @returns the tensors (the caller disposes them), loaded, missing and unexpected names
 * @throws on a shape mismatch naming the key, expected and found shape; in strict mode on missing
 *   or unexpected keys
 */
export function vitCheckpointState(model: VitModel, source: TensorSource, options: LoadVitOptions = {}): VitCheckpointState {
  const prefix = options.prefix ?? '';
  const strict = options.strict ?? true;
  const where = source.source ? ` ${source.source}:` : '';
  const keys = source.names().filter((n) => n.startsWith(prefix) && n !== '__metadata__');
  const local = new Map(keys.map((k) => [k.slice(prefix.length), k]));
  const naming = options.naming && options.naming !== 'auto' ? options.naming : detectNaming([...local.keys()]);
  const root = naming === 'hf' && ![...local.keys()].some((k) => k.startsWith('vit.')) ? '' : 'vit.';

  const used = new Set<string>();
  const missing: string[] = [];
  const values = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const p of model.namedParameters()) {
    const parts = naming === 'hf' ? hfNamesOf(p.name, root) : [p.name];
    if (!parts.every((n) => local.has(n))) {
      missing.push(...parts.filter((n) => !local.has(n)).map((n) => prefix + n));
      continue;
    }
    const expected = p.variable.shape;
    const partShape = parts.length === 3 ? [expected[0] / 3, ...expected.slice(1)] : expected;
    const datas: Float32Array[] = [];
    for (const n of parts) {
      const key = local.get(n)!;
      const entry = source.get(key);
      if (entry.shape.length !== partShape.length || entry.shape.some((d, i) => d !== partShape[i])) {
        throw new Error(
          `loadVitWeights:${where} key "${key}" has shape [${entry.shape}], expected [${partShape}] for parameter "${p.name}"`,
        );
      }
      datas.push(entry.dtype === 'float32' ? (entry.data as Float32Array) : Float32Array.from(entry.data));
      used.add(n);
    }
    values.set(p.name, { shape: expected, data: datas.length === 1 ? datas[0]! : concat(datas) });
  }
  const unexpected = [...local.keys()].filter((k) => !used.has(k)).map((k) => prefix + k);
  if (strict && (missing.length || unexpected.length)) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing ${missing.length} key(s): ${missing.slice(0, 8).join(', ')}`);
    if (unexpected.length) parts.push(`unexpected ${unexpected.length} key(s): ${unexpected.slice(0, 8).join(', ')}`);
    throw new Error(`loadVitWeights:${where} ${naming} checkpoint does not fit the model: ${parts.join('; ')}`);
  }
  const state: Record<string, tf.Tensor> = {};
  for (const [name, v] of values) state[name] = tf.tensor(v.data, v.shape, 'float32');
  return { state, loaded: [...values.keys()], missing, unexpected };
}

/**
 * Loads a ViT checkpoint under HF or timm names into a {@link VitModel}: HF's separate
 * query/key/value are fused into timm's `qkv` (rows q, k, v), layouts stay PyTorch's. Every key
 * is checked before any parameter is assigned (see {@link vitCheckpointState} and
 * `Module.loadState`), so a load that throws leaves the model as it was.
 * @param model - the model to fill
 * @param source - the checkpoint
 * @param options - naming, key prefix, strictness
 * @returns loaded, missing (model parameters not found) and unexpected (unused checkpoint keys)
 * @throws on a shape mismatch naming the checkpoint key, the expected and the found shape; on
 *   non-finite weights unless `allowNonFinite`; in strict mode on missing or unexpected keys
 */
export function loadVitWeights(model: VitModel, source: TensorSource, options: LoadVitOptions = {}): LoadStateReport {
  const { state, loaded, missing, unexpected } = vitCheckpointState(model, source, options);
  try {
    model.loadState(state, { strict: false, source: source.source, allowNonFinite: options.allowNonFinite });
  } finally {
    tf.dispose(Object.values(state));
  }
  return { loaded, missing, unexpected };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * Renames timm-named tensors (parameters, or gradients of them) to HF names, splitting each fused
 * `qkv` into query, key and value. New tensors are created for the splits; the caller disposes
 * them (the others are passed through).
 * @param tensors - timm-named tensors
 * @param root - HF encoder prefix (`vit.` for `ViTForImageClassification`)
 */
export function toHfNames(tensors: Record<string, tf.Tensor>, root = 'vit.'): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, t] of Object.entries(tensors)) {
    const hf = hfNamesOf(name, root);
    // One HF name, or query, key and value of a fused qkv: one part per name.
    const parts = hf.length === 1 ? [t] : tf.split(t, hf.length, 0);
    hf.forEach((n, i) => (out[n] = parts[i]!));
  }
  return out;
}

/** The fields of a Hugging Face `config.json` that {@link vitConfigFromCheckpoint} reads (the shapes do not tell them). */
export interface HfVitConfigFields {
  num_attention_heads?: number;
  layer_norm_eps?: number;
}

/**
 * A ViT config read from a checkpoint's tensor shapes (HF or timm naming, detected from the keys),
 * with the head count and LayerNorm epsilon from a Hugging Face `config.json` when there is one,
 * else 64 dimensions per head and the family's epsilon (HF 1e-12, timm 1e-6).
 * @param source - the checkpoint's tensors (a `SafetensorsFile`)
 * @param path - names the checkpoint in messages
 * @param hf - the fields of its `config.json`, if any
 * @throws naming the file when it does not look like a ViT checkpoint
 */
export function vitConfigFromCheckpoint(source: TensorSource, path: string, hf: HfVitConfigFields = {}): VitConfig {
  const names = source.names();
  const naming = detectNaming(names);
  const shapeOf = <const Layout extends readonly string[]>(name: string, layout: Layout): Dims<Layout> => {
    const { shape } = source.get(name);
    if (shape.length !== layout.length)
      throw new Error(`${path}: "${name}" has shape [${shape}], expected [${layout.join(', ')}]; not a ViT checkpoint`);
    return shape as Dims<Layout>;
  };
  const find = <const Layout extends readonly string[]>(hfName: string, timm: string, layout: Layout): Dims<Layout> => {
    const n = naming === 'hf' ? names.find((k) => k.endsWith(hfName)) : names.find((k) => k === timm);
    if (!n) throw new Error(`${path}: no "${naming === 'hf' ? hfName : timm}" tensor; not a ViT checkpoint (${naming} naming)`);
    return shapeOf(n, layout);
  };
  const [hiddenSize, numChannels, patchSize] = find('embeddings.patch_embeddings.projection.weight', 'patch_embed.proj.weight', [
    'D',
    'C',
    'P',
    'P',
  ]);
  const [, tokens] = find('embeddings.position_embeddings', 'pos_embed', ['1', 'N', 'D']);
  const [mlpDim] = find('encoder.layer.0.intermediate.dense.weight', 'blocks.0.mlp.fc1.weight', ['M', 'D']);
  const layerRe = naming === 'hf' ? /encoder\.layer\.(\d+)\./ : /^blocks\.(\d+)\./;
  const numLayers = 1 + Math.max(...names.map((n) => Number(layerRe.exec(n)?.[1] ?? -1)));
  const grid = Math.round(Math.sqrt(tokens - 1));
  const headName = naming === 'hf' ? 'classifier.weight' : 'head.weight';
  const numClasses = names.includes(headName) ? shapeOf(headName, ['C', 'D'])[0] : 0;
  return vitConfig({
    hiddenSize,
    numLayers,
    numHeads: hf.num_attention_heads ?? hiddenSize / 64,
    mlpDim,
    patchSize,
    imageSize: grid * patchSize,
    numChannels,
    numClasses,
    layerNormEps: hf.layer_norm_eps ?? (naming === 'hf' ? 1e-12 : 1e-6),
    posEmbedResample: naming,
  });
}
