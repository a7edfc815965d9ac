import { createVit, vitQuick96, type VitModel } from '@fpt/backbone-vit';

// The model the page trains, shared with the browser test (which rebuilds the same LPM in Node to
// load the exported files). No pretrained weights are bundled: the LPM is randomly initialised,
// as the bench's quick preset, and the page says so.

/** The frozen LPM: `vitQuick96` (width 96, 4 layers, 3 heads, patch 16, at 96x96), the bench quick preset's LPM. */
export const STUDIO_LPM = vitQuick96();

/** Initialisation seed of the random LPM. */
export const STUDIO_LPM_SEED = 0;

/** The randomly initialised LPM (the same weights for the same seed, in the browser and in Node). */
export function createStudioLpm(): VitModel {
  return createVit(STUDIO_LPM, { seed: STUDIO_LPM_SEED });
}
