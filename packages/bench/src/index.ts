/**
 * `@fpt/bench`: the FPT+ bench as a library (the `fpt-bench` command is built on it).
 * @packageDocumentation
 */
export * from './parity/compare';
export * from './parity/run';
export * from './metrics/index';
export * from './data/index';
export * from './methods';
export * from './results/schema';
export * from './results/table';
export * from './results/load';
export * from './results/render';
export * from './results/plots';
export * from './hub/hub';
export * from './hub/weights';
export * from './run/trainable';
export * from './run/train';
export * from './run/grid';
export * from './run/presets';
export * from './run/lpm';
export * from './run/progress';
export * from './run/checkpoint';
export * from './run/identity';
export * from './files/check';
export * from './files/json';
export * from './run/pipeline';
export * from './run/labels';
export * from './run/seeds';
export * from './run/memory-plan';
export * from './run/selection';
export * from './run/environment';
export * from './memory/steps';
export * from './memory/extrapolate';
export * from './memory/paper';
export * from './memory/guard';
export * from './results/noise';
