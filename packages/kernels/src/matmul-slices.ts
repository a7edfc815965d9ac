import * as tf from '@tensorflow/tfjs-core';
import { planMatMul } from './plan';
import type { BatchMatMulArgs, WasmBackendLike } from './backends';

type WasmMatMul = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  tA: number,
  tB: number,
  outId: number,
) => void;

const matMulFns = new WeakMap<object, WasmMatMul>();

function wasmMatMulOf(backend: WasmBackendLike): WasmMatMul {
  let f = matMulFns.get(backend);
  if (!f) {
    f = backend.wasm.cwrap('BatchMatMul', null, [
      'number',
      'array',
      'number',
      'number',
      'array',
      'number',
      'number',
      'number',
      'number',
    ]) as WasmMatMul;
    matMulFns.set(backend, f);
  }
  return f;
}

const shapeBytes = (shape: number[]) => new Uint8Array(new Int32Array(shape).buffer);

/**
 * The portable BatchMatMul for the WASM backend (no native code): the stock kernel is fast
 * (XNNPACK) only for one plain [m, k] x [k, n] product, so transposed operands are materialised
 * once with the backend's own Transpose kernel and every batch slice runs through that fast path
 * on views of the operands (temporary tensor ids pointing into their memory; nothing is copied).
 */
export function wasmSlicedMatMul(args: BatchMatMulArgs & { backend: unknown }): tf.TensorInfo {
  const { a, b } = args.inputs;
  const { transposeA, transposeB } = args.attrs;
  const backend = args.backend as WasmBackendLike;
  const plan = planMatMul(a.shape, b.shape, transposeA, transposeB);
  const { m, n, k } = plan;
  const transpose = tf.getKernel(tf.Transpose, 'wasm')!.kernelFunc;
  const swapLast = (t: tf.TensorInfo): tf.TensorInfo => {
    const perm = t.shape.map((_, i) => i);
    perm[perm.length - 2] = perm.length - 1;
    perm[perm.length - 1] = perm.length - 2;
    return transpose({ inputs: { x: t }, backend: backend as never, attrs: { perm } }) as tf.TensorInfo;
  };
  const aNN = transposeA ? swapLast(a) : a;
  const bNN = transposeB ? swapLast(b) : b;
  const out = backend.makeOutput(plan.outShape, 'float32');
  const matMul = wasmMatMulOf(backend);
  const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset;
  const view = (byteOffset: number, size: number) => {
    const id = backend.dataIdNextNumber++;
    backend.wasm.tfjs.registerTensor(id, size, byteOffset);
    return id;
  };
  const aShape = shapeBytes([1, m, k]);
  const bShape = shapeBytes([1, k, n]);
  const [aOff, bOff, outOff] = [offset(aNN), offset(bNN), offset(out)];
  for (let o = 0; o < plan.batch; o++) {
    const ids: [a: number, b: number, out: number] = [
      view(aOff + 4 * plan.aIndex[o]! * m * k, m * k), // one a and one b index per output matrix
      view(bOff + 4 * plan.bIndex[o]! * k * n, k * n),
      view(outOff + 4 * o * m * n, m * n),
    ];
    try {
      if (k === 0) new Float32Array(backend.wasm.HEAPU8.buffer, outOff + 4 * o * m * n, m * n).fill(0);
      else matMul(ids[0], aShape, 3, ids[1], bShape, 3, 0, 0, ids[2]);
    } finally {
      // Disposing a view id only unregisters it (and drops XNNPACK's operator cached on it).
      for (const id of ids) backend.wasm.tfjs.disposeData(id);
    }
  }
  if (aNN !== a) backend.disposeData(aNN.dataId);
  if (bNN !== b) backend.disposeData(bNN.dataId);
  return out;
}
