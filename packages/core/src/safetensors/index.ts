// The public safetensors API (platform-neutral; file helpers live in ./file, exported by node.ts).
export { bfloat16BitsToFloat32, float16BitsToFloat32, float32ToFloat16Bits } from './dtypes';
export { readSafetensors, SafetensorsError, SafetensorsFile, type SafetensorsDtype, type TensorEntry } from './read';
export { writeSafetensors, type WritableTensor, type WriteOptions } from './write';
