import type * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from './native';
import { gemmOffsets, planMatMul } from './plan';
import type { BatchMatMulArgs, CpuBackendLike, WasmBackendLike } from './backends';

/**
 * BatchMatMul for the WASM backend on the native SGEMM: the addon reads the operands and writes
 * the result in place in the WASM heap (no copies, transposed operands read through strides).
 */
export function wasmNativeMatMul(addon: NativeAddon) {
  return (args: BatchMatMulArgs & { backend: unknown }): tf.TensorInfo => {
    const { a, b } = args.inputs;
    const { transposeA, transposeB } = args.attrs;
    const backend = args.backend as WasmBackendLike;
    const plan = planMatMul(a.shape, b.shape, transposeA, transposeB);
    const out = backend.makeOutput(plan.outShape, 'float32');
    // After makeOutput: allocating may have grown (and so replaced) the heap's buffer.
    const heap = new Float32Array(backend.wasm.HEAPU8.buffer);
    const base = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset / 4;
    addon.batchMatMul(heap, heap, heap, gemmOffsets(plan, base(a), base(b), base(out)), plan.m, plan.n, plan.k, transposeA, transposeB);
    return out;
  };
}

function floats(values: tf.backend_util.BackendValues): Float32Array {
  return values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
}

/** BatchMatMul for the plain CPU backend on the native SGEMM (the tensors' own arrays). */
export function cpuNativeMatMul(addon: NativeAddon) {
  return (args: BatchMatMulArgs & { backend: unknown }): tf.TensorInfo => {
    const { a, b } = args.inputs;
    const { transposeA, transposeB } = args.attrs;
    const backend = args.backend as CpuBackendLike;
    const plan = planMatMul(a.shape, b.shape, transposeA, transposeB);
    const c = new Float32Array(plan.batch * plan.m * plan.n);
    const av = floats(backend.data.get(a.dataId).values);
    const bv = floats(backend.data.get(b.dataId).values);
    addon.batchMatMul(av, bv, c, gemmOffsets(plan, 0, 0, 0), plan.m, plan.n, plan.k, transposeA, transposeB);
    return backend.makeTensorInfo(plan.outShape, 'float32', c);
  };
}
