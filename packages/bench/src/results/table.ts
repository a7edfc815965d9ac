import { methodLabel } from '../run/labels';
import { PAPER_METHODS } from '../run/presets';
import { ppe, pme } from '../metrics/efficiency';
import type { RunResult } from './schema';

/** A mean with its standard deviation over seeds (std undefined for a single seed). */
export interface SeedStat {
  /** Mean. */
  mean: number;
  /** Sample standard deviation, when there are several seeds. */
  std?: number;
  /** Number of seeds. */
  n: number;
}

/** One method row of the comparison table. */
export interface TableRow {
  /** Method CLI name. */
  method: string;
  /** Paper-style label. */
  label: string;
  /** Learnable share, percent. */
  learnablePercent: number;
  /** Learnable parameters. */
  learnable: number;
  /** Learnable share on the paper's LPM (ViT-B/16), percent (NaN when a run did not take the paper-shape figures). */
  paperLearnablePercent: number;
  /** Learnable parameters on the paper's LPM (NaN when not taken). */
  paperLearnable: number;
  /** Peak step memory at the run shapes, MiB. */
  memoryMiB: number;
  /** Memory relative to full fine-tuning at the same shapes, percent. */
  memoryPercentOfFull: number;
  /** Peak step memory at the paper's shapes, MiB (NaN when a run did not take it). */
  paperMemoryMiB: number;
  /** Paper-shape memory relative to full fine-tuning at the paper's shapes, percent. */
  paperMemoryPercentOfFull: number;
  /** How the paper-shape figure was taken: a real step, or extrapolated with its held-out error ('' when not taken). */
  paperMemoryHow: string;
  /** Test AUC (percent) per dataset over seeds. */
  auc: Record<string, SeedStat>;
  /** Mean test AUC over datasets (percent), over seeds. */
  meanAuc: SeedStat;
  /** PPE of the mean AUC, with the learnable share of {@link ComparisonTable.efficiencyShapes}. */
  ppe: number;
  /** PME of the mean AUC, with the memory of {@link ComparisonTable.efficiencyShapes}. */
  pme: number;
}

/** The comparison table, computed from result files alone. */
export interface ComparisonTable {
  /** Title (says when the LPM is randomly initialised). */
  title: string;
  /** Datasets, sorted. */
  datasets: string[];
  /** Rows: the paper's methods in its order, then the others. */
  rows: TableRow[];
  /** Whether every run used a pretrained LPM. */
  pretrained: boolean;
  /** Seeds found. */
  seeds: number[];
  /** Preset names found. */
  presets: string[];
  /** Shapes of the learnable share and memory behind PPE, PME and the efficiency plot: the paper's when every run took them, else the runs'. */
  efficiencyShapes: 'paper' | 'run';
}

/** The paper's own headline figures ([paper figures](../../../../docs/method.md#paper-figures); ViT-B/16, eight datasets). */
export const PAPER_TABLE: Array<{
  label: string;
  learnablePercent: number;
  memoryMB: number;
  memoryPercentOfFull: number;
  meanAuc: number;
}> = [
  { label: 'Full fine-tuning', learnablePercent: 100, memoryMB: 23128, memoryPercentOfFull: 100, meanAuc: 88.82 },
  { label: 'Prompt tuning', learnablePercent: 0.17, memoryMB: 20582, memoryPercentOfFull: 88.99, meanAuc: 83.68 },
  { label: 'Adapter', learnablePercent: 2.03, memoryMB: 19360, memoryPercentOfFull: 83.71, meanAuc: 84.14 },
  { label: 'LoRA', learnablePercent: 0.68, memoryMB: 20970, memoryPercentOfFull: 90.67, meanAuc: 85.94 },
  { label: 'FPT', learnablePercent: 1.81, memoryMB: 1824, memoryPercentOfFull: 7.89, meanAuc: 86.4 },
  { label: 'FPT+', learnablePercent: 1.03, memoryMB: 736, memoryPercentOfFull: 3.18, meanAuc: 87.12 },
];

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function seedStat(xs: number[]): SeedStat {
  const m = mean(xs);
  if (xs.length < 2) return { mean: m, n: xs.length };
  return { mean: m, std: Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1)), n: xs.length };
}

/** Builds the comparison table from run results (the same results always give the same table). */
export function buildTable(results: RunResult[]): ComparisonTable {
  const datasets = [...new Set(results.map((r) => r.dataset.name))].sort();
  const seeds = [...new Set(results.map((r) => r.seed))].sort((a, b) => a - b);
  const found = [...new Set(results.map((r) => r.method.name))];
  const methods = [
    ...PAPER_METHODS.filter((m) => found.includes(m)),
    ...found.filter((m) => !(PAPER_METHODS as readonly string[]).includes(m)).sort(),
  ];
  const pretrained = results.every((r) => r.lpm.pretrained);
  const presets = [...new Set(results.map((r) => r.preset))].sort();
  const efficiencyShapes =
    results.length > 0 && results.every((r) => r.memory.paperShapes && r.memory.fullFinetunePaperShapes) ? 'paper' : 'run';
  const rows = methods.map((method): TableRow => {
    const runs = results.filter((r) => r.method.name === method);
    const auc: Record<string, SeedStat> = {};
    for (const d of datasets) {
      const xs = runs.filter((r) => r.dataset.name === d).map((r) => 100 * (r.test.auc ?? NaN));
      if (xs.length) auc[d] = seedStat(xs);
    }
    // Mean AUC per seed over the datasets this method ran on, then over seeds.
    const perSeed = seeds
      .map((s) => runs.filter((r) => r.seed === s).map((r) => 100 * (r.test.auc ?? NaN)))
      .filter((xs) => xs.length === Object.keys(auc).length && xs.length > 0)
      .map(mean);
    const meanAuc = seedStat(perSeed.length ? perSeed : [NaN]);
    const learnablePercent = mean(runs.map((r) => r.parameters.sharePercent));
    const memoryBytes = mean(runs.map((r) => r.memory.runShapes.peakBytes ?? NaN));
    const fullBytes = mean(runs.map((r) => r.memory.fullFinetuneRunShapes.peakBytes ?? NaN));
    const paperBytes = mean(runs.map((r) => r.memory.paperShapes?.peakBytes ?? NaN));
    const paperFullBytes = mean(runs.map((r) => r.memory.fullFinetunePaperShapes?.peakBytes ?? NaN));
    const paperLearnablePercent = mean(runs.map((r) => r.memory.paperShapes?.parameters.sharePercent ?? NaN));
    const paperLearnable = mean(runs.map((r) => r.memory.paperShapes?.parameters.learnable ?? NaN));
    const paper = efficiencyShapes === 'paper';
    const pmeMemory = paper ? [paperBytes, paperFullBytes] : [memoryBytes, fullBytes];
    return {
      method,
      label: methodLabel(method),
      learnablePercent,
      learnable: Math.round(mean(runs.map((r) => r.parameters.learnable))),
      paperLearnablePercent,
      paperLearnable,
      memoryMiB: memoryBytes / 2 ** 20,
      memoryPercentOfFull: (100 * memoryBytes) / fullBytes,
      paperMemoryMiB: paperBytes / 2 ** 20,
      paperMemoryPercentOfFull: (100 * paperBytes) / paperFullBytes,
      paperMemoryHow: paperHow(runs),
      auc,
      meanAuc,
      ppe: ppe(meanAuc.mean, paper ? paperLearnablePercent : learnablePercent),
      pme: pme(meanAuc.mean, pmeMemory[0], pmeMemory[1]),
    };
  });
  const lpm = pretrained ? 'pretrained LPM' : 'randomly initialised LPM (not pretrained: accuracies are not comparable with the paper)';
  const title = `fpt-bench ${presets.join('+')}: test AUC (%) of ${results.length} runs, seeds ${seeds.join(',')}; ${lpm}`;
  return { title, datasets, rows, pretrained, seeds, presets, efficiencyShapes };
}

/** How a method's paper-shape figures were taken, over its runs: a real step, or extrapolated with the largest held-out error. */
function paperHow(runs: RunResult[]): string {
  const records = runs.map((r) => r.memory.paperShapes);
  if (records.length === 0 || records.some((r) => !r)) return '';
  if (records.every((r) => r!.how === 'measured')) return 'real step';
  const worst = Math.max(...records.map((r) => Math.abs(r!.extrapolation?.validation.relativeError ?? NaN)));
  return `extrapolated (held-out error ${(100 * worst).toFixed(2)} %)`;
}

const fmt = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const fmtStat = (s: SeedStat | undefined) => (!s ? '-' : s.std === undefined ? fmt(s.mean) : `${fmt(s.mean)} ± ${fmt(s.std)}`);
const fmtShare = (x: number) => (x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));

/** The table as Markdown, with the paper's block beside it. */
export function tableMarkdown(t: ComparisonTable): string {
  const head = [
    'method',
    'learnable % (run shapes)',
    'memory MiB (run shapes)',
    'memory % of full FT (run shapes)',
    'learnable % (paper shapes)',
    'memory MiB (paper shapes)',
    'memory % of full FT (paper shapes)',
    'paper-shape memory: how',
    ...t.datasets.map((d) => `AUC ${d}`),
    'mean AUC',
    'PPE',
    'PME',
  ];
  const lines = [`### ${t.title}`, '', `| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of t.rows) {
    const cells = [
      r.label,
      fmtShare(r.learnablePercent),
      fmt(r.memoryMiB, 1),
      fmt(r.memoryPercentOfFull),
      Number.isFinite(r.paperLearnablePercent) ? fmtShare(r.paperLearnablePercent) : 'n/a',
      fmt(r.paperMemoryMiB, 1),
      fmt(r.paperMemoryPercentOfFull),
      r.paperMemoryHow || 'not taken',
      ...t.datasets.map((d) => fmtStat(r.auc[d])),
      fmtStat(r.meanAuc),
      fmt(r.ppe),
      fmt(r.pme),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  lines.push(
    '',
    `Memory: peak bytes of live tfjs data buffers (views counted once) during one steady-state training step (AdamW, clipping; FPT+/FPT train on cached keys/values, the frozen LPM weights excluded). Run shapes: measured in each run. Paper shapes (ViT-B/16 LPM at 512x512, batch 16): a real step where it fits in the backend's memory, else extrapolated from real steps on shallower copies of the LPM at the same shapes, with the error on a held-out real step. PPE and PME use the mean AUC and the ${t.efficiencyShapes === 'paper' ? 'paper-shape' : 'run-shape'} learnable share and memory.`,
    '',
    "### The paper's own figures (FPT+ paper, ViT-B/16 pretrained, eight datasets; not produced by this run)",
    '',
    '| method | learnable % | memory MB | memory % of full FT | mean AUC |',
    '|---|---|---|---|---|',
    ...PAPER_TABLE.map(
      (p) => `| ${p.label} | ${p.learnablePercent} | ${p.memoryMB.toLocaleString('en-US')} | ${p.memoryPercentOfFull} | ${p.meanAuc} |`,
    ),
    '',
  );
  return lines.join('\n');
}

/** The table as CSV (one row per method; std columns empty for a single seed). */
export function tableCsv(t: ComparisonTable): string {
  const head = [
    'method',
    'label',
    'learnable',
    'learnable_percent',
    'memory_mib',
    'memory_percent_of_full',
    'paper_learnable',
    'paper_learnable_percent',
    'paper_memory_mib',
    'paper_memory_percent_of_full',
    'paper_memory_how',
    ...t.datasets.flatMap((d) => [`auc_${d}`, `auc_${d}_std`]),
    'mean_auc',
    'mean_auc_std',
    'ppe',
    'pme',
    'seeds',
  ];
  const num = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '' : String(Number(x.toFixed(6))));
  const rows = t.rows.map((r) =>
    [
      r.method,
      `"${r.label}"`,
      String(r.learnable),
      num(r.learnablePercent),
      num(r.memoryMiB),
      num(r.memoryPercentOfFull),
      num(r.paperLearnable),
      num(r.paperLearnablePercent),
      num(r.paperMemoryMiB),
      num(r.paperMemoryPercentOfFull),
      `"${r.paperMemoryHow}"`,
      ...t.datasets.flatMap((d) => [num(r.auc[d]?.mean), num(r.auc[d]?.std)]),
      num(r.meanAuc.mean),
      num(r.meanAuc.std),
      num(r.ppe),
      num(r.pme),
      String(r.meanAuc.n),
    ].join(','),
  );
  return [head.join(','), ...rows, ''].join('\n');
}
