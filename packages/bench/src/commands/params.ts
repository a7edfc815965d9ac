import { formatParameterReport } from '@fpt/core';
import { adapt, createVit, vitB16Hf384 } from '@fpt/backbone-vit';
import { CLI_METHODS, cliMethod } from './methods';
import { classesOption, parseArgs } from './args';

/**
 * `fpt-bench params <method> --classes C [--set key=value]...`: builds the method on the ViT-B/16
 * HF configuration (keys as `--set side.hiddenSize=128` or `--set fpt-plus.side.hiddenSize=128`) and prints its parameter table; the last line is
 * `learnable=<n> total=<n> share=<percent>%`.
 * @returns the exit code
 */
export function paramsCommand(argv: string[], print: (line: string) => void = console.log): number {
  const args = parseArgs(argv, ['classes']);
  const [name, ...extra] = args.positional;
  if (!name || extra.length) {
    print(`usage: fpt-bench params <method> --classes C [--set key=value]...\nmethods: ${[...CLI_METHODS.keys()].join(', ')}`);
    return 2;
  }
  // `--set rank=8` or, as `fpt-bench run` writes it, `--set lora.rank=8`.
  const sets = Object.fromEntries(Object.entries(args.sets).map(([k, v]) => [k.startsWith(`${name}.`) ? k.slice(name.length + 1) : k, v]));
  const method = cliMethod(name).make(sets);
  const classes = classesOption(args);
  const backbone = createVit(vitB16Hf384(), { init: 'zeros' });
  try {
    const model = adapt(backbone, [method], { numClasses: classes });
    const report = model.report(2);
    model.dispose();
    print(`${method.name} on ViT-B/16 (HF google/vit-base-patch16-384), ${classes} classes`);
    print(formatParameterReport(report));
    print(`learnable=${report.trainable} total=${report.total} share=${report.trainablePercent.toFixed(4)}%`);
  } finally {
    backbone.dispose();
  }
  return 0;
}
