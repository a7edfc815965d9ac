/**
 * `@fpt/fusion`: the fine-grained fusion module of FPT+ and FPT v1.
 * @packageDocumentation
 */
export * from './variant';
export * from './config';
export * from './module';
export * from './forward';
