/**
 * `@fpt/backbone-vit`: a Vision Transformer for TensorFlow.js with timm/HF-compatible weights.
 * @packageDocumentation
 */
export * from './config';
export * from './model';
export * from './hooks';
export * from './forward';
export * from './resample';
export * from './checkpoint';
export * from './method/context';
export * from './method/capabilities';
export * from './method/method';
export * from './method/compose';
export * from './method/stack';
export * from './method/registry';
export * from './method/adapted';
