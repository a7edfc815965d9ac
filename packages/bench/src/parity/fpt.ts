import * as tf from '@tensorflow/tfjs-core';
import { parameterReport } from '@fpt/core';
import {
  adapt,
  createVit,
  EVAL,
  loadVitWeights,
  resamplePosEmbed,
  type AdaptedModel,
  type MethodFactory,
  type MethodOptions,
  type VitConfig,
} from '@fpt/backbone-vit';
import { fptAttachment, fptPlus, fptV1, loadAuthorsState, toAuthorsNames, type FptOptions, type KeyValues } from '@fpt/fpt-plus';
import { field, fixtureTensor, type Fixture } from './fixture';
import { type ParitySession, vitConfigFrom } from './session';

/** How a fixture's `variant` string maps to our factory, and the fusion switches that design has. */
interface FixtureVariant {
  factory: MethodFactory<FptOptions>;
  promptNorm: boolean;
  promptProj: boolean;
  promptDim: (lpm: VitConfig, side: VitConfig) => number;
}

// The fixture edge: the authors' variant names become our factories here, and only here.
const VARIANTS: Readonly<Record<string, FixtureVariant>> = {
  'fpt+': { factory: fptPlus, promptNorm: true, promptProj: false, promptDim: (lpm) => lpm.hiddenSize },
  fpt: { factory: fptV1, promptNorm: false, promptProj: true, promptDim: (_lpm, side) => side.hiddenSize },
};

/** What a `kind: fpt` fixture describes: the LPM, the method and the classes, every field checked. */
export interface FptFixtureConfig {
  /** The LPM architecture. */
  lpm: VitConfig;
  /** The FPT method (FPT+ or FPT v1) with the fixture's options. */
  factory: MethodFactory<FptOptions>;
  /** Its options. */
  options: MethodOptions<FptOptions>;
  /** Classes of the head. */
  numClasses: number;
}

/** The FPT configuration a `kind: fpt` fixture describes, with every field checked. */
export function fptConfigFromFixture(fixture: Fixture): FptFixtureConfig {
  const { config, name } = fixture;
  const where = `${name} config`;
  const obj = (o: Record<string, unknown>, k: string, w: string) => field<Record<string, unknown>>(o, k, 'object', w);
  const variantName = field<string>(config, 'variant', 'string', where);
  const variant = Object.hasOwn(VARIANTS, variantName) ? VARIANTS[variantName] : undefined;
  if (!variant) throw new Error(`${where}: "variant" must be one of ${Object.keys(VARIANTS).join(', ')}, got "${variantName}"`);
  const lpm = vitConfigFrom(obj(config, 'lpm', where), `${where}.lpm`, 'hf');
  const side = vitConfigFrom(obj(config, 'side', where), `${where}.side`, 'hf');
  const ts = obj(config, 'token_selection', where);
  const fusion = obj(config, 'fusion', where);
  const promptNorm = field<boolean>(fusion, 'prompt_norm', 'boolean', `${where}.fusion`);
  const promptProj = field<boolean>(fusion, 'prompt_proj', 'boolean', `${where}.fusion`);
  const promptDim = field<number>(fusion, 'prompt_dim', 'number', `${where}.fusion`);
  // The two variants differ exactly in these switches; anything else is a design we do not implement.
  const expectedDim = variant.promptDim(lpm, side);
  if (promptNorm !== variant.promptNorm || promptProj !== variant.promptProj || promptDim !== expectedDim) {
    throw new Error(
      `${where}.fusion: variant "${variantName}" expects prompt_norm=${variant.promptNorm}, prompt_proj=${variant.promptProj}, prompt_dim=${expectedDim}; got ${promptNorm}, ${promptProj}, ${promptDim}`,
    );
  }
  return {
    lpm,
    factory: variant.factory,
    numClasses: field<number>(config, 'num_classes', 'number', where),
    options: {
      inputSize: field<number>(config, 'input_size_hr', 'number', where),
      layers: field<number[]>(config, 'layers', 'object', where),
      selector: { criterion: field<string>(ts, 'criterion', 'string', `${where}.token_selection`), seed: 0 },
      ratio: field<number>(ts, 'ratio', 'number', `${where}.token_selection`),
      prompts: field<number>(fusion, 'num_prompts', 'number', `${where}.fusion`),
      side: {
        hiddenSize: side.hiddenSize,
        numLayers: side.numLayers,
        numHeads: side.numHeads,
        mlpDim: side.mlpDim,
        patchSize: side.patchSize,
        imageSize: side.imageSize,
        layerNormEps: side.layerNormEps,
      },
    },
  };
}

/**
 * Checks the LPM half: resampled position embeddings, final hidden states, logits, token scores,
 * selected indices (exactly), and the selected keys and values.
 * @returns the stacked selected keys and values (the caller disposes them)
 */
function checkLpm(s: ParitySession, model: AdaptedModel): KeyValues {
  s.consume(['input.pixels_hr']);
  const pixels = fixtureTensor(s.fixture.file, 'input.pixels_hr');
  const fpt = fptAttachment(model);
  const r = fpt.inspectLpm(pixels);
  pixels.dispose();
  const { lpm, config } = fpt;
  tf.tidy(() => {
    s.check(
      'expected.lpm.pos_embed',
      resamplePosEmbed(lpm.get('pos_embed'), config.inputSize / lpm.config.patchSize, lpm.config.posEmbedResample),
      'activation',
    );
  });
  s.check('expected.lpm.hidden', r.features, 'activation');
  if (r.logits) s.check('expected.lpm.logits', r.logits, 'activation');
  if (r.scores.size > 0) s.check('expected.lpm.scores', r.scores, 'activation');
  s.check('expected.lpm.indices', r.indices, 'exact');
  s.check('expected.lpm.keys', r.keys, 'activation');
  s.check('expected.lpm.values', r.values, 'activation');
  tf.dispose([r.features, r.indices, r.scores, ...(r.logits ? [r.logits] : [])]);
  return { keys: r.keys, values: r.values };
}

/**
 * Checks the learnable half on the LPM's keys and values: fused prompts, logits and loss with
 * dropout off, and the gradient of the loss for every learnable tensor under the authors' names.
 */
function checkLearnable(s: ParitySession, model: AdaptedModel, kv: KeyValues): void {
  const { file } = s.fixture;
  s.consume(['input.pixels_lr', 'input.labels']);
  const pixels = fixtureTensor(file, 'input.pixels_lr');
  const labels = fixtureTensor(file, 'input.labels');
  const batch = { pixels, extras: { keys: kv.keys, values: kv.values } };
  tf.tidy(() => {
    s.check('expected.fusion.out', fptAttachment(model).fused(kv, EVAL), 'activation');
    s.check('expected.fpt.logits', model.forward(batch), 'activation');
  });
  const params = model.module.namedParameters();
  const { value, grads } = tf.variableGrads(
    () => model.loss(batch, labels),
    params.map((p) => p.variable),
  );
  const byName: Record<string, tf.Tensor> = {};
  for (const p of params) {
    const grad = grads[p.variable.name];
    if (!grad) throw new Error(`FPT+ parity: no gradient for parameter ${p.name} (variable ${p.variable.name})`);
    byName[p.name] = grad;
  }
  const authors = toAuthorsNames(model, byName);
  tf.tidy(() => s.check('expected.fpt.loss', tf.reshape(value, [1]), 'activation'));
  for (const [name, g] of Object.entries(authors)) s.check(`expected.grad.${name}`, g, 'gradient');
  tf.dispose([value, pixels, labels, ...Object.values(grads), ...Object.values(authors)]);
}

/**
 * The expected tensors a `kind: fpt` fixture must contain, by group. The gradient group holds one
 * tensor per learnable parameter under the authors' names; those are required as each gradient is
 * checked (their names come from the built model), as are the LPM's importance scores when the
 * selector produces scores.
 * @param lpmHasHead - whether the fixture's LPM has a classifier
 */
export function fptExpectedTensors(lpmHasHead: boolean): Record<string, string[]> {
  return {
    LPM: ['expected.lpm.pos_embed', 'expected.lpm.hidden', ...(lpmHasHead ? ['expected.lpm.logits'] : [])],
    selection: ['expected.lpm.indices', 'expected.lpm.keys', 'expected.lpm.values'],
    fusion: ['expected.fusion.out'],
    side: ['expected.fpt.logits', 'expected.fpt.loss'],
  };
}

/** Checks a `kind: fpt` fixture end to end: the frozen LPM half, then the learnable half. */
export function runFptFixture(s: ParitySession): void {
  const { file } = s.fixture;
  const config = fptConfigFromFixture(s.fixture);
  for (const [group, names] of Object.entries(fptExpectedTensors(config.lpm.numClasses > 0))) s.require(group, names);
  const lpm = createVit(config.lpm, { init: 'zeros' });
  try {
    loadVitWeights(lpm, file, { prefix: 'lpm.', naming: lpm.config.posEmbedResample });
    s.consume(file.names().filter((n) => n.startsWith('lpm.')));
    s.count('lpm_params', parameterReport(lpm).total);
    const model = adapt(lpm, [config.factory(config.options)], { numClasses: config.numClasses });
    try {
      loadAuthorsState(model, file, 'fpt.');
      s.consume(file.names().filter((n) => n.startsWith('fpt.')));
      s.count('learnable_params', model.counts().learnable);
      const kv = checkLpm(s, model);
      try {
        checkLearnable(s, model, kv);
      } finally {
        tf.dispose([kv.keys, kv.values]);
      }
    } finally {
      model.dispose();
    }
  } finally {
    lpm.dispose();
  }
}
