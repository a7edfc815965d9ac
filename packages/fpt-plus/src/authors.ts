import * as tf from '@tensorflow/tfjs-core';
import { loadParameters, type LoadStateReport, type NamedVariable } from '@fpt/core';
import { toHfNames, vitCheckpointState, type AdaptedModel, type TensorSource } from '@fpt/backbone-vit';
import { fptAttachment } from './model';

const CLASSIFIER = ['classifier.weight', 'classifier.bias'] as const;

/**
 * The mapping between the authors' PyTorch state dict and an adapted FPT model:
 *
 * | authors' name | ours |
 * |---|---|
 * | `fusion_module.prompts`, `.layer_norm.*`, `.prompt_proj.*`, `.out_proj.*` | `<fpt>.fusion_module.*`, same layout |
 * | `side_encoder.vit.embeddings.*`, `side_encoder.vit.encoder.layer.i.*`, `side_encoder.vit.layernorm.*` | `<fpt>.side_encoder.<timm name>` (HF ViT names, query/key/value fused into `qkv`) |
 * | `side_encoder.classifier.*` | the adapted model's `head.*` |
 *
 * Loads the learnable part from such a state dict (a safetensors file of it, say). Everything is
 * checked (every key present, none unexpected, every shape) before anything is assigned: a failed
 * load leaves the model as it was.
 * @param model - an adapted model made with `fptPlus()` or `fptV1()`
 * @param source - the tensors
 * @param prefix - prefix of the authors' names in `source` (e.g. `fpt.` in the golden fixtures)
 * @returns the loaded names (ours) and the unused keys of `source` under the prefix
 * @throws on a missing tensor, an unexpected one or a shape mismatch, naming the key
 */
export function loadAuthorsState(model: AdaptedModel, source: TensorSource, prefix = ''): LoadStateReport {
  const fpt = fptAttachment(model);
  const where = source.source ? `${source.source}: ` : '';
  const names = new Set(source.names());
  // Everything is renamed to ours first (the authors' names in the messages), then goes through
  // core's one load path in a single call, which checks every value before assigning any.
  const params: NamedVariable[] = [];
  const values = new Map<string, tf.Tensor>();
  const used = new Set<string>();
  try {
    const stage = (key: string, name: string, variable: tf.Variable) => {
      if (!names.has(key)) throw new Error(`loadAuthorsState: ${where}missing key "${key}"`);
      const e = source.get(key);
      if (e.shape.join(',') !== variable.shape.join(',')) {
        throw new Error(`loadAuthorsState: ${where}key "${key}" has shape [${e.shape}], expected [${variable.shape}]`);
      }
      const data = e.data instanceof Float32Array ? e.data : Float32Array.from(e.data);
      const bad = data.reduce((n, x) => (Number.isFinite(x) ? n : n + 1), 0);
      if (bad) throw new Error(`loadAuthorsState: ${where}key "${key}" holds ${bad} non-finite value(s)`);
      params.push({ name, variable });
      values.set(name, tf.tensor(data, e.shape, 'float32'));
      used.add(key);
    };
    for (const p of fpt.fusion.namedParameters()) stage(`${prefix}fusion_module.${p.name}`, `fusion_module.${p.name}`, p.variable);
    stage(`${prefix}side_encoder.${CLASSIFIER[0]}`, 'head.weight', model.module.get('head.weight'));
    stage(`${prefix}side_encoder.${CLASSIFIER[1]}`, 'head.bias', model.module.get('head.bias'));
    const unexpected = source.names().filter((n) => n.startsWith(`${prefix}fusion_module.`) && !used.has(n));
    if (unexpected.length) throw new Error(`loadAuthorsState: ${where}unexpected key(s): ${unexpected.join(', ')}`);
    // The side ViT under HF names (query/key/value fused into qkv), every key and shape checked.
    const withoutClassifier: TensorSource = {
      source: source.source,
      names: () => source.names().filter((n) => !CLASSIFIER.some((c) => n === `${prefix}side_encoder.${c}`)),
      get: (name) => source.get(name),
    };
    const side = vitCheckpointState(fpt.side, withoutClassifier, { prefix: `${prefix}side_encoder.`, naming: 'hf' });
    for (const [n, t] of Object.entries(side.state)) values.set(`side_encoder.${n}`, t);
    for (const p of fpt.side.namedParameters()) params.push({ name: `side_encoder.${p.name}`, variable: p.variable });
    return loadParameters(params, values, { source: source.source, label: 'loadAuthorsState' });
  } finally {
    tf.dispose([...values.values()]);
  }
}

/**
 * Renames tensors keyed by an adapted FPT model's parameter names (parameters or their gradients:
 * `<fpt>.fusion_module.*`, `<fpt>.side_encoder.*`, `head.*`) to the authors' names (see
 * {@link loadAuthorsState}); split `qkv` tensors are new and the caller disposes them along with
 * the rest.
 * @param model - the adapted model the names come from
 * @param tensors - by our names
 */
export function toAuthorsNames(model: AdaptedModel, tensors: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  // fptAttachment found the FPT part among the parts, which match the methods one for one.
  const fptName = model.methods[model.stack.parts.indexOf(fptAttachment(model))]!.name;
  const out: Record<string, tf.Tensor> = {};
  const side: Record<string, tf.Tensor> = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (name === 'head.weight' || name === 'head.bias') out[`side_encoder.classifier.${name.slice(5)}`] = t;
    else if (name.startsWith(`${fptName}.side_encoder.`)) side[name.slice(`${fptName}.side_encoder.`.length)] = t;
    else if (name.startsWith(`${fptName}.`)) out[name.slice(fptName.length + 1)] = t;
    else out[name] = t;
  }
  for (const [name, t] of Object.entries(toHfNames(side, 'vit.'))) out[`side_encoder.${name}`] = t;
  return out;
}
