import * as tf from '@tensorflow/tfjs-core';
import { bindingLimit } from './binding-limit';
import { nodeBuiltin } from './node-builtins';
import { guardSyncReads, guardTensorBytes, prepareWebGpu, type GpuAdapterReport } from './webgpu';

/** The backends {@link selectBackend} knows, best first. */
export const BACKEND_ORDER = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'] as const;

/** A backend name: native CUDA TensorFlow, WebGPU, native CPU TensorFlow, WebAssembly or plain JS CPU. */
export type BackendName = (typeof BACKEND_ORDER)[number];

/** One attempt made by {@link selectBackend}. */
export interface BackendAttempt {
  /** The backend tried. */
  backend: BackendName;
  /** The package that provides it. */
  pkg: string;
  /** Whether it was set up and is now active. */
  ok: boolean;
  /** Why it was skipped or failed (absent when it succeeded). */
  reason?: string;
}

/** The outcome of {@link selectBackend}. */
export interface BackendSelection {
  /** The tfjs backend name now active (`tensorflow`, `webgpu`, `wasm` or `cpu`). */
  active: string;
  /** The backend chosen. */
  backend: BackendName;
  /** Every attempt, in order. */
  attempts: BackendAttempt[];
  /**
   * The most bytes the backend's tensors can occupy when the backend itself caps it (WASM: its
   * 32-bit heap, 4 GiB); `null` when only the machine's memory limits it.
   */
  heapLimitBytes: number | null;
  /** The WebGPU adapter when the backend is `webgpu`, else null. */
  adapter: GpuAdapterReport | null;
}

const PACKAGES: Record<BackendName, { pkg: string; tfName: string; heapLimitBytes: number | null }> = {
  // Native TensorFlow on CUDA: the device's memory, which tfjs does not report.
  'tensorflow-gpu': { pkg: '@tensorflow/tfjs-node-gpu', tfName: 'tensorflow', heapLimitBytes: null },
  // WebGPU: the adapter's limits are reported in `adapter`; tensors live in GPU memory.
  webgpu: { pkg: '@tensorflow/tfjs-backend-webgpu', tfName: 'webgpu', heapLimitBytes: null },
  tensorflow: { pkg: '@tensorflow/tfjs-node', tfName: 'tensorflow', heapLimitBytes: null },
  wasm: { pkg: '@tensorflow/tfjs-backend-wasm', tfName: 'wasm', heapLimitBytes: 4 * 2 ** 30 },
  cpu: { pkg: '@tensorflow/tfjs-backend-cpu', tfName: 'cpu', heapLimitBytes: null },
};

/** How {@link selectBackend} loads a package; replaceable in tests. */
export type ModuleImporter = (pkg: string) => Promise<unknown>;

// A variable specifier keeps bundlers from resolving optional packages at build time. Resolution
// from this file fails when the backend is installed in the application but not beside this
// library (pnpm's strict layout), so in Node the application's folder (cwd) is tried next.
const dynamicImport: ModuleImporter = async (pkg) => {
  try {
    return await import(/* @vite-ignore */ pkg);
  } catch (err) {
    if (typeof process === 'undefined' || !process.versions?.node) throw err;
    const { createRequire } = nodeBuiltin('node:module');
    const { pathToFileURL } = nodeBuiltin('node:url');
    let resolved: string;
    try {
      resolved = createRequire(`${process.cwd()}/`).resolve(pkg);
    } catch {
      throw err;
    }
    return import(/* @vite-ignore */ pathToFileURL(resolved).href);
  }
};

/**
 * Picks the best available tfjs backend: `@tensorflow/tfjs-node-gpu`, then
 * `@tensorflow/tfjs-backend-webgpu` on a hardware adapter (in Node through the `webgpu` package,
 * Dawn), then `@tensorflow/tfjs-node`, then `@tensorflow/tfjs-backend-wasm`, then
 * `@tensorflow/tfjs-backend-cpu`, each through a dynamic import, so none of them is needed to
 * install or to import this library. A software WebGPU adapter (SwiftShader, llvmpipe) is never
 * picked automatically, only when `webgpu` is asked for by name. Returns which one is active, the
 * WebGPU adapter when that is it, and why the better ones were skipped.
 * @param preference - `'auto'` (default) tries in order; a backend name tries only that one
 * @param importer - module loader: pass `(p) => import(p)` from the application so packages resolve
 *   from there (the default resolves from this library, then from the current directory)
 * @throws when no backend (or not the preferred one) could be set up, listing every reason
 */
export async function selectBackend(
  preference: BackendName | 'auto' = 'auto',
  importer: ModuleImporter = dynamicImport,
): Promise<BackendSelection> {
  if (preference !== 'auto' && !(preference in PACKAGES)) {
    throw new Error(`selectBackend: unknown backend "${preference}", expected one of auto, ${BACKEND_ORDER.join(', ')}`);
  }
  const order: BackendName[] = preference === 'auto' ? [...BACKEND_ORDER] : [preference];
  const attempts: BackendAttempt[] = [];
  for (const backend of order) {
    const { pkg, tfName, heapLimitBytes } = PACKAGES[backend];
    let adapter: GpuAdapterReport | null = null;
    try {
      if (backend === 'webgpu') adapter = await prepareWebGpu(importer, preference === 'webgpu');
      else await importer(pkg);
    } catch (err) {
      // prepareWebGpu's messages already name the package or the adapter at fault.
      attempts.push({ backend, pkg, ok: false, reason: backend === 'webgpu' ? firstLine(err) : `cannot load ${pkg}: ${firstLine(err)}` });
      continue;
    }
    try {
      if (!tf.findBackendFactory(tfName)) throw new Error(`${pkg} registered no "${tfName}" backend`);
      const ok = await tf.setBackend(tfName);
      if (!ok) throw new Error(`tf.setBackend("${tfName}") failed`);
      await tf.ready();
      if (backend === 'tensorflow-gpu' && !hasGpu(tf.backend())) {
        throw new Error('the native backend loaded but sees no CUDA device');
      }
      if (backend === 'webgpu') {
        guardSyncReads();
        // The device's own limits (the adapter's, requested in full when the device was made).
        const limits = (tf.backend() as unknown as { device: { limits: GpuAdapterReport['limits'] } }).device.limits;
        if (!tensorGuard) tensorGuard = guardTensorBytes(bindingLimit);
        if (adapter) {
          adapter.limits = { maxBufferSize: limits.maxBufferSize, maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize };
          const inForce = bindingLimit();
          if (inForce && inForce.bytes < limits.maxStorageBufferBindingSize) adapter.splitAt = inForce;
        }
      }
      attempts.push({ backend, pkg, ok: true });
      return { active: tfName, backend, attempts, heapLimitBytes, adapter };
    } catch (err) {
      attempts.push({ backend, pkg, ok: false, reason: firstLine(err) });
    }
  }
  const why = attempts.map((a) => `${a.backend}: ${a.reason}`).join('; ');
  throw new Error(`selectBackend: no usable backend (${why})`);
}

// Installed once (one WebGPU device per process); it reads the limit in force at each tensor.
let tensorGuard: (() => void) | undefined;

function hasGpu(backend: unknown): boolean {
  // tfjs-node-gpu exposes the devices TensorFlow found; without that information assume a GPU.
  const b = backend as { isUsingGpuDevice?: boolean };
  return b.isUsingGpuDevice ?? true;
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const end = message.indexOf('\n');
  return end < 0 ? message : message.slice(0, end);
}
