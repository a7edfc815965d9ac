/**
 * `@fpt/bench`: the FPT+ bench as a library (the `fpt-bench` command is built on it).
 * @packageDocumentation
 */
export * from './parity/compare';
export * from './parity/run';
export { parityCommand } from './commands/parity';
export * from './metrics/index';
export * from './data/index';
export * from './commands/methods';
export * from './results/schema';
export * from './results/table';
export * from './results/load';
export * from './results/render';
export * from './results/plots';
export * from './hub/hub';
export * from './hub/weights';
export * from './run/plan';
export * from './run/shard';
export * from './run/bench';
export * from './run/trainable';
export * from './run/train';
export * from './results/grid';
export * from './run/presets';
export * from './run/lpm';
export * from './terminal/progress';
export * from './run/checkpoint';
export * from './results/identity';
export * from './backend/setup';
export * from './files/check';
export * from './files/json';
export * from './run/pipeline';
export * from './paper/paper';
export * from './run/seeds';
export * from './run/memory-plan';
export * from './run/selection';
export * from './run/environment';
export * from './memory/steps';
export * from './memory/extrapolate';
export * from './memory/paper';
export * from './memory/guard';
export * from './results/noise';
export * from './memory/records';
