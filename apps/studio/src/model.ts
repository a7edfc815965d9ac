import { readSafetensors, type SafetensorsFile } from '@fpt/core';
import {
  createVit,
  detectNaming,
  loadVitWeights,
  vitConfigFromCheckpoint,
  vitQuick96,
  type CheckpointNaming,
  type HfVitConfigFields,
  type VitConfig,
  type VitModel,
} from '@fpt/backbone-vit';

// The frozen LPM the page trains on: randomly initialised (`vitQuick96`, the bench quick preset's;
// no pretrained weights are bundled, and the page says so), or a checkpoint the user loads from a
// local file (HF or timm ViT safetensors, detected as the bench's `--weights`; `config.json`
// optional). The browser test rebuilds the same LPM in Node to load the exported files.

/** The random LPM: `vitQuick96` (width 96, 4 layers, 3 heads, patch 16, at 96x96), the bench quick preset's LPM. */
export const STUDIO_LPM = vitQuick96();

/** The resolution the LPM runs at (the quick preset's `lpmInputSize`); a checkpoint's position embeddings are resampled to it. */
export const LPM_INPUT = 96;

/** Initialisation seed of the random LPM. */
export const STUDIO_LPM_SEED = 0;

/** Where the LPM comes from: its architecture and, for a checkpoint, the file and its naming. */
export interface LpmSource {
  /** `random`, or the checkpoint's file name. */
  name: string;
  config: VitConfig;
  checkpoint?: { file: SafetensorsFile; naming: CheckpointNaming; withConfigJson: boolean };
}

/** The randomly initialised LPM. */
export const RANDOM_LPM: LpmSource = { name: 'random', config: STUDIO_LPM };

/** A fresh copy of the LPM (each session owns one: full fine-tuning changes it). */
export function createLpm(source: LpmSource): VitModel {
  if (!source.checkpoint) return createVit(source.config, { seed: STUDIO_LPM_SEED });
  const vit = createVit(source.config, { init: 'zeros' });
  try {
    loadVitWeights(vit, source.checkpoint.file, { naming: 'auto' });
  } catch (err) {
    vit.dispose();
    throw err;
  }
  return vit;
}

/** The randomly initialised LPM (the same weights for the same seed, in the browser and in Node). */
export function createStudioLpm(): VitModel {
  return createLpm(RANDOM_LPM);
}

/** A picked file's name and bytes. */
export interface PickedBytes {
  name: string;
  bytes: Uint8Array;
}

/**
 * The LPM of a checkpoint picked with, optionally, its Hugging Face `config.json` (the head count
 * and epsilon; without it, 64 dimensions per head and the family's epsilon, as the bench).
 * @throws naming the file at fault: not one .safetensors, not a ViT checkpoint, a config.json field of the wrong type
 */
export function lpmFromFiles(files: readonly PickedBytes[]): LpmSource {
  const weights = files.filter((f) => f.name.endsWith('.safetensors'));
  const configs = files.filter((f) => f.name.endsWith('.json'));
  const [w] = weights;
  if (weights.length !== 1 || configs.length > 1 || files.length !== weights.length + configs.length || !w)
    throw new Error(
      `LPM checkpoint: pick one .safetensors file and, optionally, its config.json; got ${files.map((f) => f.name).join(', ') || 'nothing'}`,
    );
  const [c] = configs;
  const hf: HfVitConfigFields = c ? hfFields(c) : {};
  const file = readSafetensors(w.bytes, w.name);
  const config = vitConfigFromCheckpoint(file, w.name, hf);
  return { name: w.name, config, checkpoint: { file, naming: detectNaming(file.names()), withConfigJson: !!c } };
}

/** The fields of a Hugging Face config.json the LPM reads, checked by type. */
function hfFields(file: PickedBytes): HfVitConfigFields {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(file.bytes));
  } catch (err) {
    throw new Error(`${file.name}: not valid JSON: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${file.name}: expected a JSON object`);
  const out: HfVitConfigFields = {};
  for (const key of ['num_attention_heads', 'layer_norm_eps'] as const) {
    const v = (json as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v > 0)) throw new Error(`${file.name}: "${key}" must be a positive number, got ${JSON.stringify(v)}`);
    out[key] = v;
  }
  return out;
}

/** One line describing the LPM for the page. */
export function describeLpm(source: LpmSource): string {
  const c = source.config;
  const arch = `ViT, width ${c.hiddenSize}, ${c.numLayers} layers, ${c.numHeads} heads, patch ${c.patchSize}`;
  if (!source.checkpoint) return `A randomly initialised LPM: ${arch}, at ${LPM_INPUT}x${LPM_INPUT} (the bench's quick preset).`;
  const { naming, withConfigJson } = source.checkpoint;
  const heads = withConfigJson ? 'heads and epsilon from config.json' : 'no config.json: 64 dimensions per head';
  return `The LPM from ${source.name} (${naming} naming; ${heads}): ${arch}, laid out for ${c.imageSize}x${c.imageSize}, run at ${LPM_INPUT}x${LPM_INPUT}.`;
}
