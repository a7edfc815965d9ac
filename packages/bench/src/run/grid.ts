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
 */
export function benchGrid(datasets: string[], methods: string[], seeds: number[]): GridRun[] {
  return datasets.flatMap((dataset) =>
    methods.flatMap((method) => seeds.map((seed) => ({ id: runId(dataset, method, seed), dataset, method, seed }))),
  );
}
