import type { Module } from './module';

/** Parameter counts of one group of a {@link ParameterReport}. */
export interface ParameterGroup {
  /** The group: a dotted name prefix cut at {@link ParameterReportOptions.depth}. */
  name: string;
  /** All elements in the group. */
  total: number;
  /** Trainable elements in the group. */
  trainable: number;
}

/** Parameter accounting of a module tree. */
export interface ParameterReport {
  /** Elements of all parameters. */
  total: number;
  /** Elements of trainable parameters. */
  trainable: number;
  /** trainable / total in percent. */
  trainablePercent: number;
  /** Per-group breakdown in first-appearance order. */
  groups: ParameterGroup[];
}

/** Options of {@link parameterReport}. */
export interface ParameterReportOptions {
  /**
   * How many leading dotted segments name a group: `blocks.0.attn.qkv.weight` falls in `blocks.0`
   * at depth 2 and in `blocks` at depth 1. Default 2.
   */
  depth?: number;
}

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** One parameter as {@link groupParameters} counts it. */
export interface CountedParameter {
  /** Dotted name. */
  name: string;
  /** Number of elements. */
  size: number;
  /** Whether it trains. */
  trainable: boolean;
}

/**
 * Totals and per-group counts of a list of parameters (the grouping of {@link parameterReport}).
 * @param params - the parameters, in the order their groups should appear
 * @param options - grouping depth
 */
export function groupParameters(params: Iterable<CountedParameter>, options: ParameterReportOptions = {}): ParameterReport {
  const depth = options.depth ?? 2;
  const groups = new Map<string, ParameterGroup>();
  let total = 0;
  let trainable = 0;
  for (const p of params) {
    total += p.size;
    if (p.trainable) trainable += p.size;
    const key = p.name.split('.').slice(0, depth).join('.');
    const g = groups.get(key) ?? { name: key, total: 0, trainable: 0 };
    g.total += p.size;
    if (p.trainable) g.trainable += p.size;
    groups.set(key, g);
  }
  return { total, trainable, trainablePercent: total ? (100 * trainable) / total : 0, groups: [...groups.values()] };
}

/**
 * Counts total and trainable parameters of one or more module trees, with a per-group breakdown.
 * @param modules - a module, or several whose counts add up (a frozen backbone plus a method, say)
 * @param options - grouping depth
 */
export function parameterReport(modules: Module | Module[], options: ParameterReportOptions = {}): ParameterReport {
  const list = Array.isArray(modules) ? modules : [modules];
  const params = list.flatMap((m) =>
    m.namedParameters().map((p) => ({ name: p.name, size: numel(p.variable.shape), trainable: p.trainable })),
  );
  return groupParameters(params, options);
}

/**
 * A printable table of a {@link ParameterReport}, ending with a summary line in the style of peft's
 * `print_trainable_parameters`: `trainable params: N || all params: N || trainable%: X`.
 */
export function formatParameterReport(report: ParameterReport): string {
  const width = Math.max(6, ...report.groups.map((g) => g.name.length));
  const fmt = (n: number) => n.toLocaleString('en-US');
  const lines = [`${'module'.padEnd(width)}  ${'total'.padStart(13)}  ${'trainable'.padStart(13)}`];
  for (const g of report.groups) {
    lines.push(`${g.name.padEnd(width)}  ${fmt(g.total).padStart(13)}  ${fmt(g.trainable).padStart(13)}`);
  }
  lines.push(
    `trainable params: ${fmt(report.trainable)} || all params: ${fmt(report.total)} || trainable%: ${report.trainablePercent.toFixed(4)}`,
  );
  return lines.join('\n');
}
