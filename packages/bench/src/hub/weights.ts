import { existsSync } from 'node:fs';
import type { Progress } from '../terminal/progress';
import { hubDownload, type HubOptions } from './hub';

/**
 * Resolves `--weights`: a path to a safetensors checkpoint, or `hf:org/name[@revision]`, which
 * fetches `model.safetensors` (and `config.json`, for the head count, when the repository has
 * one) into the Hugging Face cache.
 * @returns the local file and a description of where it came from
 * @throws naming the path or repository at fault
 */
export async function resolveWeights(
  spec: string,
  options: HubOptions & { progress?: Progress } = {},
): Promise<{ path: string; source: string }> {
  if (!spec.startsWith('hf:')) {
    if (!existsSync(spec)) throw new Error(`--weights: ${spec} does not exist (expected a .safetensors ViT checkpoint or hf:org/name)`);
    return { path: spec, source: spec };
  }
  const ref = spec.slice(3);
  const at = ref.indexOf('@');
  const repo = at < 0 ? ref : ref.slice(0, at);
  const revision = at < 0 ? 'main' : ref.slice(at + 1);
  if (at >= 0 && revision === '')
    throw new Error(`--weights ${spec}: the revision after "@" is empty; give a branch, tag or commit, or leave out "@"`);
  const model = await hubDownload(repo, 'model.safetensors', revision, options);
  try {
    await hubDownload(repo, 'config.json', revision, options);
  } catch (err) {
    if (!/404|not in the cache/.test((err as Error).message)) throw err;
  }
  options.progress?.log(`weights: hf:${repo}@${revision} -> ${model.path} (${model.how}, commit ${model.commit})`);
  return { path: model.path, source: `hf:${repo}@${model.commit}` };
}
