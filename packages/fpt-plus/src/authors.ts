import * as tf from '@tensorflow/tfjs-core';
import type { LoadStateReport } from '@fpt/core';
import { toHfNames, vitCheckpointState, type TensorSource } from '@fpt/backbone-vit';
import type { FptModel } from './model';

/**
 * The mapping between the authors' PyTorch state dict and {@link FptModel.learnable}:
 *
 * | authors' name | ours |
 * |---|---|
 * | `fusion_module.prompts`, `.layer_norm.*`, `.prompt_proj.*`, `.out_proj.*` | same name, same layout |
 * | `side_encoder.vit.embeddings.*`, `side_encoder.vit.encoder.layer.i.*`, `side_encoder.vit.layernorm.*` | `side_encoder.<timm name>` (HF ViT names, query/key/value fused into `qkv`) |
 * | `side_encoder.classifier.*` | `side_encoder.head.*` |
 *
 * Loads the learnable part from such a state dict (a safetensors file of it, say). Every key,
 * shape and value is checked before any parameter is assigned: a load that throws leaves the
 * model exactly as it was.
 * @param model - the model to fill
 * @param source - the tensors
 * @param prefix - prefix of the authors' names in `source` (e.g. `fpt.` in the golden fixtures)
 * @returns the loaded names (ours) and the unused keys of `source` under the prefix
 * @throws on a missing or unexpected key, a shape mismatch or a non-finite weight, naming the key
 */
export function loadAuthorsState(model: FptModel, source: TensorSource, prefix = ''): LoadStateReport {
  const where = source.source ? `${source.source}: ` : '';
  const names = new Set(source.names());
  // Everything the load needs, by our full names; disposed whatever happens.
  const state: Record<string, tf.Tensor> = {};
  try {
    const used = new Set<string>();
    for (const p of model.fusion.namedParameters()) {
      const key = `${prefix}fusion_module.${p.name}`;
      if (!names.has(key)) throw new Error(`loadAuthorsState: ${where}missing key "${key}"`);
      const e = source.get(key);
      if (e.shape.length !== p.variable.shape.length || e.shape.some((d, i) => d !== p.variable.shape[i])) {
        throw new Error(`loadAuthorsState: ${where}key "${key}" has shape [${e.shape}], expected [${p.variable.shape}]`);
      }
      state[`fusion_module.${p.name}`] = tf.tensor(e.data, e.shape, 'float32');
      used.add(key);
    }
    const side = vitCheckpointState(model.side, source, { prefix: `${prefix}side_encoder.`, naming: 'hf' });
    for (const [name, t] of Object.entries(side.state)) state[`side_encoder.${name}`] = t;
    const unexpected = [...names]
      .filter((n) => n.startsWith(`${prefix}fusion_module.`) && !used.has(n))
      .concat(side.unexpected);
    if (unexpected.length) throw new Error(`loadAuthorsState: ${where}unexpected key(s): ${unexpected.join(', ')}`);
    // One load of the whole learnable part: it validates every value, then assigns.
    const report = model.learnable.loadState(state, { source: source.source });
    return { loaded: report.loaded, missing: [], unexpected };
  } finally {
    tf.dispose(Object.values(state));
  }
}

/**
 * Renames tensors keyed by {@link FptModel.learnable} names (parameters or their gradients) to the
 * authors' names (see {@link loadAuthorsState}); split `qkv` tensors are new and the caller
 * disposes them along with the rest.
 * @param tensors - by our names
 */
export function toAuthorsNames(tensors: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  const side: Record<string, tf.Tensor> = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (name.startsWith('side_encoder.')) side[name.slice('side_encoder.'.length)] = t;
    else out[name] = t;
  }
  for (const [name, t] of Object.entries(toHfNames(side, 'vit.'))) out[`side_encoder.${name}`] = t;
  return out;
}
