/**
 * `@fpt/token-select`: important-token selection for FPT+ ([important tokens](../../../docs/method.md#important-tokens)).
 * @packageDocumentation
 */
export * from './selectors';
export * from './registry';
export * from './gather';
