/**
 * `@fpt/token-select`: important-token selection for FPT+ (DESIGN.md §2.3).
 * @packageDocumentation
 */
export * from './selectors';
export * from './registry';
export * from './gather';
