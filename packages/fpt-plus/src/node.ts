/**
 * `@fpt/fpt-plus/node`: the on-disk key/value cache (Node only).
 * @packageDocumentation
 */
export * from './cache';
