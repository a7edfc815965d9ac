import * as tf from '@tensorflow/tfjs-core';
import { loadNative, type NativeAddon, type NativeLoad } from './native';
import { cpuNativeMatMul, wasmNativeMatMul } from './matmul-native';
import { wasmSlicedMatMul } from './matmul-slices';
import { wasmGather } from './gather';
import { chunkedAddN } from './addn-chunks';
import { type NativeOp, wasmFusedOps, wasmNativeOps } from './native-ops';
import type { BatchMatMulArgs } from './backends';

export { loadNative, type NativeAddon, type NativeLoad } from './native';
export { planMatMul, gemmOffsets, type MatMulPlan } from './plan';

/**
 * Which BatchMatMul a backend runs: the native multi-threaded SGEMM (`native`), the portable
 * per-slice WASM kernel (`wasm-slices`), tfjs's own (`stock`), or on WebGPU tfjs's WGSL kernels
 * with the project's WebGPU fixes (`wgsl`).
 */
export type KernelChoice = 'native' | 'wasm-slices' | 'stock' | 'wgsl';

/** Options of {@link enableFastKernels}. */
export interface FastKernelsOptions {
  /** Use the native addon when it loads (default true); false forces the portable fallback. */
  native?: boolean;
  /**
   * The native micro-kernel: `avx512`, `avx2-fma` or `generic` (default: `FPT_KERNELS_ISA`, else
   * the widest this CPU supports). A narrower one compares or tests the kernels on one machine.
   */
  isa?: string;
}

/** What {@link enableFastKernels} did. */
export interface FastKernelsReport {
  /** The tfjs backend the kernels were registered for. */
  backend: string;
  /** The BatchMatMul now in use. */
  choice: KernelChoice;
  /** On WASM with the native addon, the instruction set of the element-wise kernels. */
  elementwiseIsa?: string;
  /** The native micro-kernel's instruction set (`avx512`, `avx2-fma` or `generic`) when native. */
  isa?: string;
  /** Threads of the native kernels when native. */
  threads?: number;
  /** Why the native kernels are not used, when they are not. */
  reason?: string;
}

type KernelFunc = tf.KernelConfig['kernelFunc'];

// The stock kernels replaced, to call for what ours do not handle (non-float32) and to restore.
const stock = new Map<string, tf.KernelConfig>();

/** Replaces a kernel; `handles` says which calls ours takes (the others go to the stock kernel). */
function replace(
  kernelName: string,
  backendName: string,
  handles: (inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) => boolean,
  impl: KernelFunc,
): void {
  const key = `${kernelName}/${backendName}`;
  const original = stock.get(key) ?? tf.getKernel(kernelName, backendName);
  if (!original) throw new Error(`enableFastKernels: backend "${backendName}" has no ${kernelName} kernel to replace`);
  stock.set(key, original);
  const kernelFunc: KernelFunc = (args) => (handles(args.inputs, args.attrs ?? {}) ? impl(args) : original.kernelFunc(args));
  tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel({ kernelName, backendName, kernelFunc, setupFunc: original.setupFunc, disposeFunc: original.disposeFunc });
}

function install(backendName: string, impl: (args: BatchMatMulArgs & { backend: unknown }) => tf.TensorInfo): void {
  const float32 = (inputs: tf.NamedTensorInfoMap) => inputs.a?.dtype === 'float32' && inputs.b?.dtype === 'float32';
  replace(tf.BatchMatMul, backendName, float32, (args) => impl(args as unknown as BatchMatMulArgs & { backend: unknown }));
  if (backendName === 'wasm') {
    // The stock WASM Identity copies its input; tfjs clones every tensor it saves for backward
    // with it, so each saved activation was stored twice. Tensors are immutable: share the
    // buffer (reference-counted), as the CPU backend does.
    replace(
      tf.Identity,
      'wasm',
      (inputs) => inputs.x?.dtype !== 'string',
      (args) => {
        const { x } = args.inputs as { x: tf.TensorInfo };
        (args.backend as { incRef(dataId: object): void }).incRef(x.dataId);
        return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
      },
    );
  }
}

// Kernels added (core's fused kernels), which no backend has of its own: removed on disable.
// Keyed by `kernel/backend` so that a second registration replaces the first.
const added = new Map<string, { kernelName: string; backendName: string }>();

/** Replaces stock kernels with native ones, for the calls each takes. */
function replaceAll(backendName: string, ops: NativeOp[]): void {
  for (const op of ops) replace(op.kernelName, backendName, op.handles, op.impl as KernelFunc);
}

/**
 * Registers core's fused kernels. Core calls them with float32 tensors only; a call that a kernel
 * does not take is refused with the kernel's name and the inputs' dtypes and shapes.
 */
function addAll(backendName: string, ops: NativeOp[]): void {
  for (const op of ops) {
    const key = `${op.kernelName}/${backendName}`;
    if (added.has(key)) tf.unregisterKernel(op.kernelName, backendName);
    tf.registerKernel({
      kernelName: op.kernelName,
      backendName,
      kernelFunc: ((args: Parameters<NativeOp['impl']>[0]) => {
        if (!op.handles(args.inputs, args.attrs ?? {})) {
          const got = Object.entries(args.inputs)
            .map(([name, t]) => `${name}: ${t?.dtype} [${t?.shape}]`)
            .join(', ');
          throw new Error(`${op.kernelName} on ${backendName} takes float32 tensors of matching shapes (and a positive scale); got ${got}`);
        }
        return op.impl(args);
      }) as KernelFunc,
    });
    added.set(key, { kernelName: op.kernelName, backendName });
  }
}

/** Kernels registered on WASM whether or not the native addon loads: fixes of the stock ones. */
function installWasmFixes(): void {
  replace(tf.GatherV2, 'wasm', (inputs) => inputs.x?.dtype !== 'string', wasmGather);
}

/** Kernels registered on WebGPU: AddN within the device's storage-buffer limit. */
function installWebGpuFixes(): void {
  const key = `${tf.AddN}/webgpu`;
  const original = stock.get(key) ?? tf.getKernel(tf.AddN, 'webgpu');
  if (!original) return;
  const limit = (backend: unknown) =>
    (backend as { device: { limits: { maxStorageBuffersPerShaderStage: number } } }).device.limits.maxStorageBuffersPerShaderStage;
  replace(tf.AddN, 'webgpu', () => true, chunkedAddN(original.kernelFunc, limit));
}

/** Sets the addon's micro-kernel: the option, else `FPT_KERNELS_ISA`, else the widest supported. */
function selectIsa(addon: NativeAddon, option: string | undefined): void {
  const env = typeof process !== 'undefined' ? process.env.FPT_KERNELS_ISA : undefined;
  const [wanted, source] = option ? [option, 'the isa option'] : env ? [env, 'FPT_KERNELS_ISA'] : [addon.info().isas[0]!, 'the default'];
  try {
    addon.setIsa(wanted);
  } catch (err) {
    throw new Error(`enableFastKernels: ${source} asks for "${wanted}": ${(err as Error).message}`);
  }
}

/**
 * Replaces the BatchMatMul kernel (every `tf.matMul`, in forward and backward passes) of a tfjs
 * backend with a faster one (and, on WASM, Identity with one that shares its input's buffer
 * instead of copying it, and GatherV2 with one that handles batch dimensions, which the stock
 * kernel reads out of bounds for, and copies rows rather than elements): the native addon's blocked, vectorised, multi-threaded SGEMM when it
 * was built and loads (WASM and CPU backends), else, on WASM, a portable kernel that runs every
 * batch slice through XNNPACK's fast 2-D path. On WASM the native addon also takes over, on every
 * thread and vectorised, the kernels that run single-threaded there: Add, Sub, Multiply and RealDiv
 * (broadcasting, from 8192 output elements), Exp, Erf, Sqrt, Rsqrt, Softmax,
 * Sum, Mean, Max and Min over contiguous axes, Slice, SplitV, Concat, Transpose and Tile; and it registers core's fused
 * kernels (`FusedKernel`: AdamW's update; layer normalisation, GELU, the attention's scaled softmax,
 * and their backward).
 * Results equal the stock kernels' to float32 rounding (Exp and Erf to their polynomials'
 * accuracy: 1e-7 relative for Exp, 5e-7 absolute for Erf). Set `FPT_KERNELS=off` to force the fallback, `FPT_KERNELS=stock` to change nothing,
 * `FPT_KERNELS_ISA=avx2-fma` (or the `isa` option) to run a narrower micro-kernel than the widest.
 * On `webgpu` it keeps tfjs's WGSL kernels and registers AddN split to the device's binding limit
 * (the stock one leaves its output unwritten past it).
 * @param backendName - `wasm`, `cpu` or `webgpu` (default: the active backend)
 * @param options - force the fallback, or a micro-kernel
 * @throws naming the option or variable when the micro-kernel asked for is not supported here
 * @returns which kernel is in use and why
 */
export function enableFastKernels(backendName: string = tf.getBackend(), options: FastKernelsOptions = {}): FastKernelsReport {
  if (backendName === 'webgpu') {
    installWebGpuFixes();
    return { backend: backendName, choice: 'wgsl' };
  }
  if (backendName !== 'wasm' && backendName !== 'cpu') {
    return { backend: backendName, choice: 'stock', reason: `no fast kernels for the "${backendName}" backend` };
  }
  const env = typeof process !== 'undefined' ? process.env.FPT_KERNELS : undefined;
  if (env === 'stock') {
    disableFastKernels(backendName);
    return { backend: backendName, choice: 'stock', reason: 'FPT_KERNELS=stock' };
  }
  // Start from the stock kernels, so that a second call with other options leaves none of the first's.
  disableFastKernels(backendName);
  if (backendName === 'wasm') installWasmFixes();
  const native: NativeLoad = options.native === false ? { reason: 'disabled by the caller (native: false)' } : loadNative();
  if (native.addon) {
    selectIsa(native.addon, options.isa);
    install(backendName, backendName === 'wasm' ? wasmNativeMatMul(native.addon) : cpuNativeMatMul(native.addon));
    if (backendName === 'wasm') {
      replaceAll('wasm', wasmNativeOps(native.addon));
      addAll('wasm', wasmFusedOps(native.addon));
    }
    const { isa, threads, elementwiseIsa } = native.addon.info();
    return { backend: backendName, choice: 'native', isa, threads, ...(backendName === 'wasm' ? { elementwiseIsa } : {}) };
  }
  if (backendName === 'wasm') {
    install('wasm', wasmSlicedMatMul);
    return { backend: backendName, choice: 'wasm-slices', reason: native.reason };
  }
  disableFastKernels(backendName);
  return { backend: backendName, choice: 'stock', reason: native.reason };
}

/**
 * Restores tfjs's own kernels on a backend and removes the fused ones (undoes {@link enableFastKernels}).
 * @param backendName - `wasm` or `cpu` (default: the active backend)
 */
export function disableFastKernels(backendName: string = tf.getBackend()): void {
  for (const [key, original] of [...stock]) {
    if (original.backendName !== backendName) continue;
    tf.unregisterKernel(original.kernelName, backendName);
    tf.registerKernel(original);
    stock.delete(key);
  }
  for (const [key, kernel] of [...added]) {
    if (kernel.backendName !== backendName) continue;
    tf.unregisterKernel(kernel.kernelName, backendName);
    added.delete(key);
  }
}

/**
 * One line for logs: `native SGEMM (avx512, 2 threads) on wasm` (with `, element-wise avx512` when
 * the element-wise kernels are native too), or the fallback and its reason.
 */
export function describeKernels(r: FastKernelsReport): string {
  if (r.choice === 'native')
    return `native SGEMM (${r.isa}, ${r.threads} threads${r.elementwiseIsa ? `, element-wise ${r.elementwiseIsa}` : ''}) on ${r.backend}`;
  if (r.choice === 'wgsl') return `tfjs's WGSL kernels on ${r.backend} (AddN split to the device's storage-buffer limit)`;
  return `${r.choice} BatchMatMul on ${r.backend}${r.reason ? ` (native kernels unavailable: ${r.reason})` : ''}`;
}
