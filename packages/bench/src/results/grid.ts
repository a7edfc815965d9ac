/** One run of the bench grid. */
export interface GridRun {
  /** `<dataset>__<method>__seed<seed>`: names the result file. */
  id: string;
  /** Dataset name. */
  dataset: string;
  /** Method name. */
  method: string;
  /** Run seed. */
  seed: number;
}

/** The id of a run. */
export function runId(dataset: string, method: string, seed: number): string {
  return `${dataset}__${method}__seed${seed}`;
}

/**
 * The grid of runs in a fixed order (datasets, then methods, then seeds, each in the order given):
 * the same arguments always give the same list, so a run can be resumed or split into shards.
 * @throws when a dataset, method or seed is given twice
 */
export function benchGrid(datasets: string[], methods: string[], seeds: number[]): GridRun[] {
  for (const [what, list] of [
    ['datasets', datasets],
    ['methods', methods],
    ['seeds', seeds],
  ] as const) {
    const twice = (list as readonly unknown[]).find((v, i) => list.indexOf(v as never) !== i);
    if (twice !== undefined) throw new Error(`benchGrid: ${what} lists ${JSON.stringify(twice)} twice; a run would be in the grid twice`);
  }
  return datasets.flatMap((dataset) =>
    methods.flatMap((method) => seeds.map((seed) => ({ id: runId(dataset, method, seed), dataset, method, seed }))),
  );
}
