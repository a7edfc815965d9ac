import { configFromStrings, formatParameterReport, parameterReport } from '@fpt/core';
import { createVit, vitB16Hf384 } from '@fpt/backbone-vit';
import { applyMethod, baselineMethods } from '@fpt/baselines';
import { FptModel, fptParameterCounts, fptPlusConfig, fptV1Config, type FptConfigInput } from '@fpt/fpt-plus';

/** Parameter accounting of a method on the ViT-B/16 HF configuration, from the built model. */
export interface MethodParameters {
  /** Trainable elements (the method's parameters and head). */
  learnable: number;
  /** Frozen backbone (with its own head) plus the method's new parameters. */
  total: number;
  /** learnable / total, percent. */
  sharePercent: number;
  /** A per-module table of the learnable part. */
  table: string;
}

/** A method the bench can build by name, with string options (`--set key=value`). */
export interface BenchMethod {
  /** CLI name. */
  name: string;
  /** One line for listings. */
  description: string;
  /** Option defaults; their types drive `--set` parsing. */
  defaults: Record<string, number | string | boolean | string[]>;
  /** Builds the method on the ViT-B/16 HF LPM and counts its parameters. */
  parameters(classes: number, options: Record<string, string>): MethodParameters;
}

/** FPT options settable from the command line. */
const FPT_DEFAULTS = { prompts: 16, ratio: 0.2, criterion: 'global', inputSize: 512, sideWidth: 96, sideImage: 128, layers: [] as string[] };

function fptInput(o: typeof FPT_DEFAULTS): FptConfigInput {
  const layers = o.layers.length ? o.layers.map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n)) throw new Error(`option "layers" expects comma-separated layer indices, got "${o.layers.join(',')}"`);
    return n;
  }) : undefined;
  return {
    inputSize: o.inputSize,
    layers,
    selection: { criterion: o.criterion, ratio: o.ratio },
    fusion: { prompts: o.prompts },
    side: { hiddenSize: o.sideWidth, imageSize: o.sideImage, mlpDim: 4 * o.sideWidth, ...(layers ? { numLayers: layers.length } : {}) },
  };
}

function fptMethod(name: 'fpt-plus' | 'fpt', description: string): BenchMethod {
  const defaults = name === 'fpt' ? { ...FPT_DEFAULTS, sideImage: 224 } : FPT_DEFAULTS;
  return {
    name,
    description,
    defaults,
    parameters(classes, options) {
      const o = configFromStrings(defaults, options, name);
      const config = name === 'fpt' ? fptV1Config(classes, fptInput(o)) : fptPlusConfig(classes, fptInput(o));
      const model = new FptModel(config);
      try {
        const c = fptParameterCounts(model);
        return { learnable: c.learnable, total: c.total, sharePercent: c.sharePercent, table: formatParameterReport(parameterReport(model.learnable)) };
      } finally {
        model.dispose();
      }
    },
  };
}

function baselineMethod(name: string): BenchMethod {
  const method = baselineMethods.get(name);
  return {
    name,
    description: method.description,
    defaults: method.defaults as BenchMethod['defaults'],
    parameters(classes, options) {
      const backbone = createVit(vitB16Hf384(), { init: 'zeros' });
      try {
        const m = applyMethod(backbone, name, options, { numClasses: classes });
        const c = m.parameterCounts();
        const table = formatParameterReport(parameterReport([backbone, m.module], { depth: 2 }));
        m.dispose();
        return { learnable: c.learnable, total: c.total, sharePercent: c.sharePercent, table };
      } finally {
        backbone.dispose();
      }
    },
  };
}

/** Every method `fpt-bench params` (and later the bench) knows, by name: FPT+, FPT, then the baselines. */
export const BENCH_METHODS = new Map<string, BenchMethod>(
  [
    fptMethod('fpt-plus', 'FPT+: fine-grained prompts fused with a frozen LPM\'s important keys/values, side ViT at 128'),
    fptMethod('fpt', 'FPT v1: all LPM layers, side ViT at 224, prompts projected up to the LPM width'),
    ...baselineMethods.names().map(baselineMethod),
  ].map((m) => [m.name, m]),
);
