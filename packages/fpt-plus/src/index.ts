/**
 * `@fpt/fpt-plus`: FPT+ and FPT v1 as methods of the `@fpt/backbone-vit` contract
 * (`adapt(lpm, [fptPlus()])`), the authors' checkpoint mapping, and (in `@fpt/fpt-plus/node`) the
 * on-disk key/value cache.
 * @packageDocumentation
 */
export * from './config';
export * from './model';
export * from './authors';
export * from './registry';
export * from './fingerprint';
