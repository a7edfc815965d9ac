// Every dataset of a run is loaded, validated and decoded before anything trains, so that bad data
// fails in one pass with every problem named, not after other runs have trained.
import { join } from 'node:path';
import { datasetPreset } from '../data/presets';
import { prepareDataset, type PreparedDataset } from '../data/prepare';
import { formatProblems, scanDataset, type DataProblem } from '../data/validate';
import type { Progress } from '../terminal/progress';
import type { RunPlan } from './plan';

/**
 * Loads, validates and decodes the named datasets of the plan; returns them, or every problem
 * found (with paths).
 */
async function prepareAll(
  plan: RunPlan,
  names: string[],
  progress: Progress,
): Promise<{ data: Map<string, PreparedDataset>; problems: DataProblem[] }> {
  const problems: DataProblem[] = [];
  const data = new Map<string, PreparedDataset>();
  for (const name of names) {
    const scan = scanDataset(join(plan.dataRoot, name), plan.classes ?? datasetPreset(name)?.classes);
    problems.push(...scan.problems);
    // Images are decoded even when the layout has problems: every problem is reported in one pass.
    if (!scan.found) continue;
    const total = scan.found.splits.train.length + scan.found.splits.val.length + scan.found.splits.test.length;
    const bar = progress.bar(`${name}: verify + decode`, total);
    const fixed = datasetPreset(name)?.normalisation;
    const r = await prepareDataset(scan.found, scan.checksums, {
      normalisation: fixed && { stats: fixed, from: `preset ${name} (the official config's mean and std)` },
      decoder: plan.decoder,
      maxSide: plan.preset.maxSide,
      limit: plan.preset.limit,
      onProgress: (d) => bar.update(d),
    });
    bar.stop();
    problems.push(...r.problems);
    if (r.prepared && scan.dataset) data.set(name, r.prepared);
  }
  return { data, problems };
}

/**
 * The datasets the plan's runs train on, decoded, each described in one line; undefined when the
 * data has problems (then printed, every one, and nothing is trained).
 * @param names - the datasets needed (those of this shard's runs)
 */
export async function prepareDatasets(
  plan: RunPlan,
  names: string[],
  progress: Progress,
  print: (line: string) => void,
): Promise<Map<string, PreparedDataset> | undefined> {
  const { data, problems } = await prepareAll(plan, names, progress);
  if (problems.length) {
    print(`fpt-bench run: the data has ${problems.length} problem(s); nothing was trained:\n${formatProblems(problems)}`);
    return undefined;
  }
  for (const d of data.values()) {
    print(
      `${d.name}: ${d.classes.length} classes [${d.classes.join(', ')}], images used train ${d.splits.train.length}/${d.found.train}, val ${d.splits.val.length}/${d.found.val}, test ${d.splits.test.length}/${d.found.test}; checksums ${d.checksums}; mean [${d.stats.mean.map((x) => x.toFixed(4))}] std [${d.stats.std.map((x) => x.toFixed(4))}] from ${d.statsFrom}; decoded in ${d.decodeSeconds.toFixed(1)} s`,
    );
  }
  return data;
}
