import * as tf from '@tensorflow/tfjs-core';
import { parameterReport } from '@fpt/core';
import { loadVitWeights, resamplePosEmbed } from '@fpt/backbone-vit';
import { FptModel, fptPlusConfig, loadAuthorsState, toAuthorsNames, type FptConfig, type KeyValues } from '@fpt/fpt-plus';
import { field, fixtureTensor, type Fixture } from './fixture';
import { ParitySession, vitConfigFrom } from './session';

/** The FPT configuration a `kind: fpt` fixture describes, with every field checked. */
export function fptConfigFromFixture(fixture: Fixture): FptConfig {
  const { config, name } = fixture;
  const where = `${name} config`;
  const obj = (o: Record<string, unknown>, k: string, w: string) => field<Record<string, unknown>>(o, k, 'object', w);
  const variant = field<string>(config, 'variant', 'string', where);
  if (variant !== 'fpt+' && variant !== 'fpt') throw new Error(`${where}: "variant" must be "fpt+" or "fpt", got "${variant}"`);
  const lpm = vitConfigFrom(obj(config, 'lpm', where), `${where}.lpm`, 'hf');
  const side = vitConfigFrom(obj(config, 'side', where), `${where}.side`, 'hf');
  const ts = obj(config, 'token_selection', where);
  const fusion = obj(config, 'fusion', where);
  const promptNorm = field<boolean>(fusion, 'prompt_norm', 'boolean', `${where}.fusion`);
  const promptProj = field<boolean>(fusion, 'prompt_proj', 'boolean', `${where}.fusion`);
  const promptDim = field<number>(fusion, 'prompt_dim', 'number', `${where}.fusion`);
  // The two variants differ exactly in these switches; anything else is a design we do not implement.
  const expectedDim = variant === 'fpt+' ? lpm.hiddenSize : side.hiddenSize;
  if (promptNorm !== (variant === 'fpt+') || promptProj !== (variant === 'fpt') || promptDim !== expectedDim) {
    throw new Error(
      `${where}.fusion: variant "${variant}" expects prompt_norm=${variant === 'fpt+'}, prompt_proj=${variant === 'fpt'}, prompt_dim=${expectedDim}; got ${promptNorm}, ${promptProj}, ${promptDim}`,
    );
  }
  return fptPlusConfig(field<number>(config, 'num_classes', 'number', where), {
    variant,
    lpm,
    inputSize: field<number>(config, 'input_size_hr', 'number', where),
    layers: field<number[]>(config, 'layers', 'object', where),
    selection: {
      criterion: field<string>(ts, 'criterion', 'string', `${where}.token_selection`),
      ratio: field<number>(ts, 'ratio', 'number', `${where}.token_selection`),
    },
    fusion: { prompts: field<number>(fusion, 'num_prompts', 'number', `${where}.fusion`) },
    side: {
      hiddenSize: side.hiddenSize,
      numLayers: side.numLayers,
      numHeads: side.numHeads,
      mlpDim: side.mlpDim,
      patchSize: side.patchSize,
      imageSize: side.imageSize,
      layerNormEps: side.layerNormEps,
    },
  });
}

/**
 * Checks the LPM half: resampled position embeddings, final hidden states, logits, token scores,
 * selected indices (exactly), and the selected keys and values.
 * @returns the stacked selected keys and values (the caller disposes them)
 */
function checkLpm(s: ParitySession, model: FptModel): KeyValues {
  s.consume(['input.pixels_hr']);
  const pixels = fixtureTensor(s.fixture.file, 'input.pixels_hr');
  const r = model.inspectLpm(pixels);
  pixels.dispose();
  const { lpm, config } = model;
  tf.tidy(() => {
    s.check('expected.lpm.pos_embed', resamplePosEmbed(lpm.get('pos_embed'), config.inputSize / lpm.config.patchSize, lpm.config.posEmbedResample), 'activation');
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
function checkLearnable(s: ParitySession, model: FptModel, kv: KeyValues): void {
  const { file } = s.fixture;
  s.consume(['input.pixels_lr', 'input.labels']);
  const pixels = fixtureTensor(file, 'input.pixels_lr');
  const labels = fixtureTensor(file, 'input.labels');
  tf.tidy(() => {
    const { logits, fused } = model.forward(kv, pixels);
    s.check('expected.fusion.out', fused, 'activation');
    s.check('expected.fpt.logits', logits, 'activation');
  });
  const params = model.learnable.namedParameters();
  const { value, grads } = tf.variableGrads(() => model.loss(kv, pixels, labels), params.map((p) => p.variable));
  const byName: Record<string, tf.Tensor> = {};
  for (const p of params) byName[p.name] = grads[p.variable.name];
  const authors = toAuthorsNames(byName);
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
  const model = new FptModel(config);
  try {
    loadVitWeights(model.lpm, file, { prefix: 'lpm.', naming: model.lpm.config.posEmbedResample });
    s.consume(file.names().filter((n) => n.startsWith('lpm.')));
    s.count('lpm_params', parameterReport(model.lpm).total);
    const loaded = loadAuthorsState(model, file, 'fpt.');
    s.consume(file.names().filter((n) => n.startsWith('fpt.')));
    void loaded;
    s.count('learnable_params', parameterReport(model.learnable).total);
    const kv = checkLpm(s, model);
    try {
      checkLearnable(s, model, kv);
    } finally {
      tf.dispose([kv.keys, kv.values]);
    }
  } finally {
    model.dispose();
  }
}
