import { BENCH_METHODS } from '../methods';
import { classesOption, parseArgs } from './args';

/**
 * `fpt-bench params <method> --classes C [--set key=value]...`: builds the method on the ViT-B/16
 * HF configuration and prints its learnable-parameter table; the last line is
 * `learnable=<n> total=<n> share=<percent>%`.
 * @returns the exit code
 */
export function paramsCommand(argv: string[], print: (line: string) => void = console.log): number {
  const args = parseArgs(argv, ['classes']);
  const [name, ...extra] = args.positional;
  if (!name || extra.length) {
    print(`usage: fpt-bench params <method> --classes C [--set key=value]...\nmethods: ${[...BENCH_METHODS.keys()].join(', ')}`);
    return 2;
  }
  const method = BENCH_METHODS.get(name);
  if (!method) throw new Error(`unknown method "${name}"; known: ${[...BENCH_METHODS.keys()].join(', ')}`);
  const classes = classesOption(args);
  const p = method.parameters(classes, args.sets);
  print(`${method.name} on ViT-B/16 (HF google/vit-base-patch16-384), ${classes} classes`);
  print(p.table);
  print(`learnable=${p.learnable} total=${p.total} share=${p.sharePercent.toFixed(4)}%`);
  return 0;
}
