import { methodLabel, PAPER_METHODS, PAPER_TABLE } from '../paper/paper';
import { ppe, pme } from '../metrics/efficiency';
import { AUC_CONVENTIONS, LOGIT_AUC, type AucConvention } from '../metrics/convention';
import type { RunResult } from './schema';
import { indistinguishablePairs, meanInterval, type Interval } from './noise';

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
  /** Test AUC (percent, {@link ComparisonTable.auc}'s convention) per dataset over seeds. */
  auc: Record<string, SeedStat>;
  /** Mean test AUC over datasets (percent), over seeds. */
  meanAuc: SeedStat;
  /** The 95 % interval of {@link TableRow.meanAuc} from the seed-to-seed spread on each dataset (undefined with one seed). */
  meanAucInterval?: Interval;
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
  /** The AUC the table, PPE and PME show. */
  auc: AucConvention;
  /** Datasets whose test AUC is undefined (a class without test images), with the class names: the table's footnotes. */
  undefinedAuc: Array<{ dataset: string; split: 'test' | 'val'; classes: string[] }>;
  /** Runs whose checkpoint was selected by the other AUC convention (their `recipe.auc`), by convention name. */
  selectedByOther: Record<string, number>;
  /** Pairs of methods (labels) whose mean AUCs differ by less than the noise: the 95 % interval of the difference holds 0. */
  withinNoise: Array<{ a: string; b: string; difference: Interval }>;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function seedStat(xs: number[]): SeedStat {
  const m = mean(xs);
  if (xs.length < 2) return { mean: m, n: xs.length };
  return { mean: m, std: Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1)), n: xs.length };
}

/**
 * The AUC convention of a set of results: the one their checkpoints were selected by when they all
 * agree, else the official code's ({@link LOGIT_AUC}).
 */
export function recordedConvention(results: RunResult[]): AucConvention {
  const names = new Set(results.map((r) => r.recipe.auc));
  const [only, ...others] = names;
  return only !== undefined && others.length === 0 ? AUC_CONVENTIONS[only] : LOGIT_AUC;
}

/** Datasets and splits where some class has no image, so the AUC is undefined there (the table's footnotes). */
function undefinedAucs(results: RunResult[]): ComparisonTable['undefinedAuc'] {
  const out = new Map<string, ComparisonTable['undefinedAuc'][number]>();
  for (const r of results) {
    const splits = [
      ['test', r.test.absentClasses],
      ['val', r.epochs.at(-1)?.val.absentClasses ?? []],
    ] as const;
    for (const [split, absent] of splits) {
      if (!absent.length) continue;
      const key = `${r.dataset.name}|${split}`;
      const entry = out.get(key) ?? { dataset: r.dataset.name, split, classes: [] };
      for (const c of absent) {
        const name = r.dataset.classes[c];
        if (name === undefined)
          throw new Error(`run ${r.id}: absent ${split} class ${c} is not one of its ${r.dataset.classes.length} classes`);
        if (!entry.classes.includes(name)) entry.classes.push(name);
      }
      out.set(key, entry);
    }
  }
  return [...out.values()].sort((a, b) => (a.dataset === b.dataset ? (a.split < b.split ? 1 : -1) : a.dataset < b.dataset ? -1 : 1));
}

/**
 * Builds the comparison table from run results (the same results always give the same table).
 * @param convention - the AUC shown (default: the convention the runs were selected by, {@link recordedConvention})
 */
export function buildTable(results: RunResult[], convention: AucConvention = recordedConvention(results)): ComparisonTable {
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
      const xs = runs.filter((r) => r.dataset.name === d).map((r) => 100 * (convention.of(r.test) ?? NaN));
      if (xs.length) auc[d] = seedStat(xs);
    }
    // Mean AUC per seed over the datasets this method ran on, then over seeds.
    const perSeed = seeds
      .map((s) => runs.filter((r) => r.seed === s).map((r) => 100 * (convention.of(r.test) ?? NaN)))
      .filter((xs) => xs.length === Object.keys(auc).length && xs.length > 0)
      .map(mean);
    const meanAuc = seedStat(perSeed.length ? perSeed : [NaN]);
    const meanAucInterval = meanInterval(aucsBySeed(runs, datasets, convention));
    const learnablePercent = mean(runs.map((r) => r.parameters.sharePercent));
    const memoryBytes = mean(runs.map((r) => r.memory.runShapes.peakBytes ?? NaN));
    const fullBytes = mean(runs.map((r) => r.memory.fullFinetuneRunShapes.peakBytes ?? NaN));
    const paperBytes = mean(runs.map((r) => r.memory.paperShapes?.peakBytes ?? NaN));
    const paperFullBytes = mean(runs.map((r) => r.memory.fullFinetunePaperShapes?.peakBytes ?? NaN));
    const paperLearnablePercent = mean(runs.map((r) => r.memory.paperShapes?.parameters.sharePercent ?? NaN));
    const paperLearnable = mean(runs.map((r) => r.memory.paperShapes?.parameters.learnable ?? NaN));
    const paper = efficiencyShapes === 'paper';
    const [pmeBytes, pmeFullBytes] = paper ? [paperBytes, paperFullBytes] : [memoryBytes, fullBytes];
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
      ...(meanAucInterval ? { meanAucInterval } : {}),
      ppe: ppe(meanAuc.mean, paper ? paperLearnablePercent : learnablePercent),
      pme: pme(meanAuc.mean, pmeBytes, pmeFullBytes),
    };
  });
  const lpm = pretrained ? 'pretrained LPM' : 'randomly initialised LPM (not pretrained: accuracies are not comparable with the paper)';
  const title = `fpt-bench ${presets.join('+')}: test AUC (%) of ${results.length} runs, seeds ${seeds.join(',')}; ${lpm}`;
  const selectedByOther: Record<string, number> = {};
  for (const r of results) if (r.recipe.auc !== convention.name) selectedByOther[r.recipe.auc] = (selectedByOther[r.recipe.auc] ?? 0) + 1;
  // Methods that ran on every dataset, compared two by two.
  const comparable = rows.filter((r) => datasets.every((d) => r.auc[d]));
  const withinNoise = indistinguishablePairs(
    comparable.map((r) => ({
      name: r.label,
      perDataset: aucsBySeed(
        results.filter((x) => x.method.name === r.method),
        datasets,
        convention,
      ),
    })),
  );
  return {
    title,
    datasets,
    rows,
    withinNoise,
    pretrained,
    seeds,
    presets,
    efficiencyShapes,
    auc: convention,
    undefinedAuc: undefinedAucs(results),
    selectedByOther,
  };
}

/** A method's test AUCs (percent) per dataset, one per seed, in the order of `datasets`. */
function aucsBySeed(runs: RunResult[], datasets: string[], convention: AucConvention): number[][] {
  return datasets.map((d) =>
    runs
      .filter((r) => r.dataset.name === d)
      .sort((a, b) => a.seed - b.seed)
      .map((r) => 100 * (convention.of(r.test) ?? Number.NaN)),
  );
}

/** The table's note on chance: what the intervals are, and which methods the run cannot tell apart. */
function noiseNote(t: ComparisonTable): string {
  if (t.seeds.length < 2)
    return 'Noise: one seed, so no interval: differences between methods may be chance (run several seeds with --seeds 0,1,2).';
  const pairs = t.withinNoise.map((p) => `${p.a} and ${p.b} (${fmt(p.difference.mean)} ± ${fmt(p.difference.halfWidth)})`);
  // A pair has an interval when both methods have one (the same per-dataset spreads make both).
  const withInterval = t.rows.filter((r) => r.meanAucInterval).length;
  const compared = (withInterval * (withInterval - 1)) / 2;
  const head = `Noise: mean AUC ± standard deviation over ${t.seeds.length} seeds, and its 95 % interval [low, high] from the seed-to-seed spread on each dataset (Student's t, Welch-Satterthwaite). `;
  if (!pairs.length) return `${head}Every pair of methods differs by more than this noise.`;
  if (compared > 2 && pairs.length === compared) {
    // Every pair: one sentence instead of a list that says the same thing many times.
    const largest = t.withinNoise.reduce((a, b) => (Math.abs(b.difference.mean) > Math.abs(a.difference.mean) ? b : a));
    return (
      `${head}Not distinguishable at 95 % (the interval of the difference holds 0): any two of these ${withInterval} methods; ` +
      `even the largest difference, ${largest.a} and ${largest.b} (${fmt(largest.difference.mean)} ± ${fmt(largest.difference.halfWidth)}), is within noise.`
    );
  }
  return `${head}Not distinguishable at 95 % (the interval of the difference holds 0): ${pairs.join('; ')}.`;
}

/** The table's note on the AUC: which convention, and the runs selected by the other one. */
function aucNote(t: ComparisonTable): string {
  const other = Object.entries(t.selectedByOther).map(([name, n]) => `${n} run(s) selected their checkpoint by the AUC on ${name}`);
  return `AUC: ${t.auc.description}; the best-validation checkpoint is tested${other.length ? ` (${other.join('; ')})` : ''}.`;
}

/** The footnotes on undefined AUCs, numbered from 1, and the marker of each test footnote's dataset. */
function footnotes(t: ComparisonTable): { lines: string[]; marker: Map<string, string> } {
  const marker = new Map<string, string>();
  const lines = t.undefinedAuc.map((u, i) => {
    if (u.split === 'test') marker.set(u.dataset, `[${i + 1}]`);
    const names = u.classes.map((c) => `"${c}"`).join(', ');
    return u.split === 'test'
      ? `[${i + 1}] ${u.dataset}: no test image of class ${names}, so the test AUC is undefined (n/a) and so is every mean over it; torcheval would score such a class 0.5 and average over the others.`
      : `[${i + 1}] ${u.dataset}: no validation image of class ${names}, so the validation AUC is undefined and selects no epoch; the final weights are tested.`;
  });
  return { lines, marker };
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
    'mean AUC 95 % interval',
    'PPE',
    'PME',
  ];
  const lines = [`### ${t.title}`, '', `| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  const notes = footnotes(t);
  const meanMarker = notes.marker.size ? ` ${[...notes.marker.values()].join('')}` : '';
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
      ...t.datasets.map((d) => fmtStat(r.auc[d]) + (notes.marker.has(d) && r.auc[d] ? ` ${notes.marker.get(d)}` : '')),
      fmtStat(r.meanAuc) + meanMarker,
      r.meanAucInterval ? `[${fmt(r.meanAucInterval.low)}, ${fmt(r.meanAucInterval.high)}]` : '-',
      fmt(r.ppe),
      fmt(r.pme),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  lines.push(
    '',
    aucNote(t),
    '',
    noiseNote(t),
    ...notes.lines.flatMap((l) => ['', l]),
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
    'mean_auc_low95',
    'mean_auc_high95',
    'ppe',
    'pme',
    'seeds',
    'auc_convention',
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
      num(r.meanAucInterval?.low),
      num(r.meanAucInterval?.high),
      num(r.ppe),
      num(r.pme),
      String(r.meanAuc.n),
      t.auc.name,
    ].join(','),
  );
  return [head.join(','), ...rows, ''].join('\n');
}
