import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { SafetensorsFile } from '@fpt/core';
import { readSafetensorsFile } from '@fpt/core/node';
import {
  createVit,
  loadVitWeights,
  vitConfigFromCheckpoint as configFromShapes,
  type HfVitConfigFields,
  type VitConfig,
  type VitModel,
} from '@fpt/backbone-vit';
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
 * A ViT config read from a checkpoint's tensor shapes (HF or timm naming; `@fpt/backbone-vit`'s
 * `vitConfigFromCheckpoint`), with the head count and LayerNorm epsilon from a `config.json`
 * beside it when there is one (HF's layout).
 * @throws naming the file when it does not look like a ViT checkpoint
 */
export function vitConfigFromCheckpoint(path: string, file: SafetensorsFile = readSafetensorsFile(path)): VitConfig {
  const cfgPath = join(dirname(path), 'config.json');
  return configFromShapes(file, path, existsSync(cfgPath) ? hfConfig(cfgPath) : {});
}

/** The fields of a Hugging Face `config.json` the LPM reads, checked by type. */
function hfConfig(path: string): HfVitConfigFields {
  const c = new JsonChecker(path);
  const cfg = c.obj(readJsonFile(path, 'a Hugging Face config.json (beside --weights)'), '(root)');
  if (cfg.num_attention_heads !== undefined) c.size(cfg.num_attention_heads, 'num_attention_heads');
  if (cfg.layer_norm_eps !== undefined) c.size(cfg.layer_norm_eps, 'layer_norm_eps');
  return cfg as HfVitConfigFields;
}
