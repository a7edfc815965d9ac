/**
 * `@fpt/side-net`: the lightweight side ViT of FPT+.
 * @packageDocumentation
 */
export * from './config';
export * from './side-net';
