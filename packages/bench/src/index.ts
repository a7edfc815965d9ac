/**
 * `@fpt/bench`: the FPT+ bench as a library (the `fpt-bench` command is built on it).
 * @packageDocumentation
 */
export * from './parity/compare';
export * from './parity/run';
export * from './metrics/index';
export * from './data/index';
export * from './methods';
