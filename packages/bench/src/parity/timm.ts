import * as tf from '@tensorflow/tfjs-core';
import { parameterReport } from '@fpt/core';
import { createVit, loadVitWeights, resamplePosEmbed, vitForward } from '@fpt/backbone-vit';
import { field } from './fixture';
import { fixtureTensor } from './fixture';
import { type ParitySession, vitConfigFrom } from './session';

/**
 * The expected tensors a `kind: timm-vit` fixture must contain: features, resampled position
 * embeddings, and logits when the model has a head.
 * @param hasHead - whether the fixture's ViT has a classifier
 */
export function timmExpectedTensors(hasHead: boolean): string[] {
  return ['expected.timm.features', ...(hasHead ? ['expected.timm.logits'] : []), 'expected.timm.pos_embed_resampled'];
}

/** Checks a `kind: timm-vit` fixture: features, logits, resampled position embeddings, parameter count. */
export function runTimmFixture(s: ParitySession): void {
  const { config, file, name } = s.fixture;
  const vitObj = field<Record<string, unknown>>(config, 'vit', 'object', `${name} config`);
  const cfg = vitConfigFrom(vitObj, `${name} config.vit`, 'timm');
  s.require('output', timmExpectedTensors(cfg.numClasses > 0));
  const model = createVit(cfg);
  try {
    const report = loadVitWeights(model, file, { prefix: 'timm.', naming: cfg.posEmbedResample });
    s.consume(report.loaded.map((n) => `timm.${n}`));
    s.count('params', parameterReport(model).total);
    s.consume(['input.pixels']);
    tf.tidy(() => {
      const out = vitForward(model, fixtureTensor(file, 'input.pixels'));
      s.check('expected.timm.features', out.features, 'activation');
      if (out.logits) s.check('expected.timm.logits', out.logits, 'activation');
      const to = field<number>(config, 'resample_to', 'number', `${name} config`);
      s.check(
        'expected.timm.pos_embed_resampled',
        resamplePosEmbed(model.get('pos_embed'), to / cfg.patchSize, cfg.posEmbedResample),
        'activation',
      );
    });
  } finally {
    model.dispose();
  }
}
