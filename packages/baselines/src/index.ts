/**
 * `@fpt/baselines`: the PETL methods FPT+ is compared with, behind one method registry.
 * @packageDocumentation
 */
export * from './part';
export * from './compose';
export * from './registry';
export * from './applied';
export * from './methods/simple';
export * from './methods/lora';
export * from './methods/adapters';
export * from './methods/vpt';
export * from './methods/ssf';
export * from './methods/side-tuning';
