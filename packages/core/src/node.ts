/**
 * `@fpt/core/node`: Node-only helpers (file system): safetensors files and atomic writes.
 * @packageDocumentation
 */
export * from './safetensors/file';
export * from './safetensors/checksum';
