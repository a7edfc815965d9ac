/**
 * `@fpt/fpt-plus`: FPT+ and FPT v1 assembled from the `@fpt/*` parts.
 * @packageDocumentation
 */
export * from './config';
export * from './model';
export * from './authors';
export * from './train';
export * from './params';
