/**
 * `@fpt/core`: the small shared contracts of the FPT+ / PETL packages.
 * @packageDocumentation
 */
// tfjs-core alone registers no gradients; every package builds on core, so core registers them once.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';

export * from './module';
export * from './params';
export * from './method';
export * from './memory';
export * from './nn';
export * from './attention';
export * from './fused-kernels';
export * from './random';
export * from './backend';
export * from './optim/index';
export * from './safetensors/index';
export * from './webgpu';
export * from './binding-limit';
export * from './reads';
export * from './shape';
export * from './metrics';
export * from './image-folder';
export * from './state';
