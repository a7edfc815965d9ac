import type * as tf from '@tensorflow/tfjs-core';

// The few internals of tfjs's WASM and CPU backends that the kernels use. Both backends are
// optional peers, so they are described here rather than imported.

/** A tensor's storage record in the WASM backend. */
export interface WasmTensorData {
  /** Byte offset of the data in the WASM heap. */
  memoryOffset: number;
}

/** The part of `BackendWasm` the kernels use. */
export interface WasmBackendLike {
  /** The Emscripten module: its heap and exported functions. */
  wasm: {
    HEAPU8: Uint8Array;
    cwrap(name: string, ret: null, args: string[]): (...args: unknown[]) => void;
    tfjs: { registerTensor(id: number, size: number, memoryOffset: number): void; disposeData(id: number): void };
  };
  dataIdMap: { get(dataId: object): WasmTensorData };
  dataIdNextNumber: number;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}

/** The part of `MathBackendCPU` the kernels use. */
export interface CpuBackendLike {
  data: { get(dataId: object): { values: tf.backend_util.BackendValues } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): tf.TensorInfo;
}

/** The inputs and attributes of BatchMatMul. */
export interface BatchMatMulArgs {
  inputs: { a: tf.TensorInfo; b: tf.TensorInfo };
  attrs: { transposeA: boolean; transposeB: boolean };
}
