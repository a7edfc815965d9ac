import type { TensorEntry } from '@fpt/core';
import { readSafetensorsFile } from '@fpt/core/node';
import { adapt, createVit, vitConfig, type AdaptedModel, type VitModel } from '@fpt/backbone-vit';
import { fptPlus } from '../src/index';

/** The golden FPT+ fixture made with the authors' modules. */
export const GOLDEN_FPT = new URL('../../../test/fixtures/golden/fptplus-tiny.safetensors', import.meta.url).pathname;

// The fixture's configuration (its metadata's `config`), spelled out.
const LPM = vitConfig({
  hiddenSize: 64,
  numLayers: 4,
  numHeads: 4,
  mlpDim: 256,
  patchSize: 8,
  imageSize: 32,
  numClasses: 7,
  layerNormEps: 1e-12,
  posEmbedResample: 'hf',
});

/** The fixture's model, LPM zero-initialised, not loaded. */
export function buildGoldenModel(): { lpm: VitModel; model: AdaptedModel; dispose: () => void } {
  const lpm = createVit(LPM, { init: 'zeros' });
  const method = fptPlus({
    inputSize: 48,
    layers: [2, 3],
    prompts: 4,
    side: { hiddenSize: 16, numHeads: 4, mlpDim: 64, patchSize: 8, imageSize: 16 },
  });
  const model = adapt(lpm, [method], { numClasses: 3 });
  return { lpm, model, dispose: () => [model, lpm].forEach((x) => x.dispose()) };
}

/** The fixture's tensors with some entries replaced or removed. */
export function editedGolden(edit: (m: Map<string, TensorEntry>) => void) {
  const file = readSafetensorsFile(GOLDEN_FPT);
  const m = new Map(file.names().map((n) => [n, file.get(n)]));
  edit(m);
  return { names: () => [...m.keys()], get: (n: string) => m.get(n)!, source: 'edited.safetensors' };
}
