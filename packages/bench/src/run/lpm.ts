import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Dims, SafetensorsFile } from '@fpt/core';
import { readSafetensorsFile } from '@fpt/core/node';
import { createVit, detectNaming, loadVitWeights, vitConfig, type VitConfig, type VitModel } from '@fpt/backbone-vit';
import { JsonChecker } from '../files/check';
import { readJsonFile } from '../files/json';
import { resolveWeights } from '../hub/weights';
import type { Progress } from '../terminal/progress';
import type { BenchPreset } from './presets';

/** Where the frozen LPM (and the baselines' backbone) comes from. */
export interface LpmSpec {
  /** Architecture (for a checkpoint: read from it). */
  config: VitConfig;
  /** Resolution the LPM (and the baselines) see. */
  inputSize: number;
  /** Checkpoint file, or none for a randomly initialised LPM. */
  weightsPath?: string;
  /** Where the weights came from (`random`, a path, or `hf:<repo>`). */
  source: string;
  /** Initialisation seed of a random LPM (the same for every run, as a pretrained LPM would be). */
  initSeed: number;
}

/** Whether the LPM carries pretrained weights. */
export function isPretrained(spec: LpmSpec): boolean {
  return spec.weightsPath !== undefined;
}

/**
 * The LPM of a run: a checkpoint (`--weights`: a path or `hf:REPO[@REV]`, its architecture read
 * from it), or a random one of the preset's shape; the line that says which.
 */
export async function resolveLpm(weights: string | undefined, preset: BenchPreset, progress: Progress): Promise<LpmSpec> {
  if (!weights) {
    progress.log(`LPM: randomly initialised (no --weights): accuracies are NOT comparable with the paper's`);
    return { config: preset.lpm, inputSize: preset.lpmInputSize, source: 'random', initSeed: 1234 };
  }
  const w = await resolveWeights(weights, { progress });
  const config: VitConfig = vitConfigFromCheckpoint(w.path, readSafetensorsFile(w.path));
  const lpm: LpmSpec = { config, inputSize: preset.lpmInputSize, weightsPath: w.path, source: w.source, initSeed: 0 };
  progress.log(
    `LPM: ${w.source} (${w.path}), width ${config.hiddenSize}, ${config.numLayers} layers, ${config.posEmbedResample} naming, run at ${lpm.inputSize}x${lpm.inputSize}`,
  );
  return lpm;
}

/** Builds a fresh LPM (each run owns its copy: full fine-tuning changes it). */
export function createLpm(spec: LpmSpec, file?: SafetensorsFile): VitModel {
  if (!spec.weightsPath) return createVit(spec.config, { seed: spec.initSeed });
  const vit = createVit(spec.config, { init: 'zeros' });
  try {
    loadVitWeights(vit, file ?? readSafetensorsFile(spec.weightsPath), { naming: 'auto' });
  } catch (err) {
    vit.dispose();
    throw err;
  }
  return vit;
}

/**
 * A ViT config read from a checkpoint's tensor shapes (HF or timm naming), with the head count
 * and LayerNorm epsilon from a `config.json` beside it when there is one (HF's layout), else 64
 * dimensions per head and the family's epsilon (HF 1e-12, timm 1e-6).
 * @throws naming the file when it does not look like a ViT checkpoint
 */
export function vitConfigFromCheckpoint(path: string, file: SafetensorsFile = readSafetensorsFile(path)): VitConfig {
  const names = file.names();
  const naming = detectNaming(names);
  const shapeOf = <const Layout extends readonly string[]>(name: string, layout: Layout): Dims<Layout> => {
    const { shape } = file.get(name);
    if (shape.length !== layout.length)
      throw new Error(`${path}: "${name}" has shape [${shape}], expected [${layout.join(', ')}]; not a ViT checkpoint`);
    return shape as Dims<Layout>;
  };
  const find = <const Layout extends readonly string[]>(hf: string, timm: string, layout: Layout): Dims<Layout> => {
    const n = naming === 'hf' ? names.find((k) => k.endsWith(hf)) : names.find((k) => k === timm);
    if (!n) throw new Error(`${path}: no "${naming === 'hf' ? hf : timm}" tensor; not a ViT checkpoint (${naming} naming)`);
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
  const cfgPath = join(dirname(path), 'config.json');
  const hf = existsSync(cfgPath) ? hfConfig(cfgPath) : {};
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

/** The fields of a Hugging Face `config.json` the LPM reads, checked by type. */
function hfConfig(path: string): { num_attention_heads?: number; layer_norm_eps?: number } {
  const c = new JsonChecker(path);
  const cfg = c.obj(readJsonFile(path, 'a Hugging Face config.json (beside --weights)'), '(root)');
  if (cfg.num_attention_heads !== undefined) c.size(cfg.num_attention_heads, 'num_attention_heads');
  if (cfg.layer_norm_eps !== undefined) c.size(cfg.layer_norm_eps, 'layer_norm_eps');
  return cfg as { num_attention_heads?: number; layer_norm_eps?: number };
}
