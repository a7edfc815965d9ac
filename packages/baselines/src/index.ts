/**
 * `@fpt/baselines`: the PETL methods FPT+ is compared with, as typed factories on the
 * `@fpt/backbone-vit` method contract (`adapt(backbone, [lora({ rank: 16 })])`).
 * @packageDocumentation
 */
export * from './targets';
export * from './merge';
export * from './layers';
export * from './registry';
export * from './methods/selective';
export * from './methods/lora';
export * from './methods/adapters';
export * from './methods/vpt';
export * from './methods/ssf';
export * from './methods/side-tuning';
export * from './methods/dora';
export * from './methods/ia3';
