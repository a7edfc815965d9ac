import * as tf from '@tensorflow/tfjs-core';
import { type BindingLimit, bindingLimitMessage, formatBytes } from './binding-limit';
import { nodeBuiltin } from './node-builtins';

// WebGPU for tfjs: in browsers `navigator.gpu` exists; in Node it comes from the `webgpu` package
// (Google's Dawn). tfjs-backend-webgpu registers itself only when `navigator.gpu` exists as the
// module is evaluated, so the GPU object is put in place first and the backend imported after.

/** The WebGPU adapter a backend runs on, as printed and recorded in result files. */
export interface GpuAdapterReport {
  /** `GPUAdapterInfo.vendor` (`nvidia`, `amd`, `intel`, `google`, ...). */
  vendor: string;
  /** `GPUAdapterInfo.architecture` (`ampere`, `rdna-3`, `swiftshader`, ...). */
  architecture: string;
  /** `GPUAdapterInfo.device`. */
  device: string;
  /** `GPUAdapterInfo.description`: the driver's own words. */
  description: string;
  /** A software rasteriser (SwiftShader, llvmpipe, lavapipe): never picked automatically. */
  software: boolean;
  /** The limits that decide which shapes run: the largest buffer and the largest storage binding, in bytes. */
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
  /** The Vulkan driver manifest used when none of the system's drivers gave an adapter (Node only). */
  icd?: string;
  /**
   * The storage-binding limit ops are split at, when it was lowered below the device's own
   * ({@link BINDING_LIMIT_ENV}, {@link setBindingLimit}) as the backend was selected.
   */
  splitAt?: BindingLimit;
}

/** The slice of the WebGPU API used here (the DOM typings are not part of this library's build). */
interface GpuLike {
  requestAdapter(options?: { powerPreference?: string }): Promise<AdapterLike | null>;
}
interface AdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
  features: { has(name: string): boolean };
  requestDevice(descriptor: { requiredLimits: Record<string, number>; requiredFeatures: string[] }): Promise<unknown>;
}
type WebGpuBackendClass = new (device: unknown, adapterInfo: unknown) => tf.KernelBackend;
interface DawnModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

/**
 * Where Debian's and Ubuntu's `chromium` packages put SwiftShader's Vulkan driver manifest. Used only
 * when WebGPU is forced and the system's own drivers give no adapter (a machine without a GPU).
 */
export const SWIFTSHADER_ICDS = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib/chromium-browser/vk_swiftshader_icd.json'];

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|microsoft basic render/i;

/** Whether an adapter is a software one: WebGPU's own flag, or a known software driver's name. */
export function isSoftwareAdapter(info: {
  isFallbackAdapter?: boolean;
  architecture?: string;
  device?: string;
  description?: string;
}): boolean {
  return info.isFallbackAdapter === true || SOFTWARE.test(`${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''}`);
}

/** One line for logs: `nvidia ampere (NVIDIA H100 ...), maxBufferSize 4 GiB, maxStorageBufferBindingSize 2 GiB`. */
export function describeAdapter(a: GpuAdapterReport): string {
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(n % 2 ** 30 === 0 ? 0 : 2)} GiB`;
  const name = [a.vendor, a.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  const detail = [a.device, a.description].filter(Boolean).join(', ');
  return (
    `${name}${detail ? ` (${detail})` : ''}${a.software ? ' [software]' : ''}, maxBufferSize ${gib(a.limits.maxBufferSize)}, ` +
    `maxStorageBufferBindingSize ${gib(a.limits.maxStorageBufferBindingSize)}${a.icd ? `, Vulkan driver ${a.icd}` : ''}` +
    (a.splitAt ? `, ops split at ${formatBytes(a.splitAt.bytes)} (${a.splitAt.name})` : '')
  );
}

function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node;
}

function navigatorGpu(): GpuLike | undefined {
  return (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
}

function installGpu(gpu: GpuLike): void {
  const existing = (globalThis as { navigator?: object }).navigator;
  // Node 21+ has a read-only `navigator` without `gpu`: replace it with one that adds it.
  const nav = Object.assign(Object.create(existing ?? null), { gpu });
  Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true, writable: true });
}

async function nodeGpu(importer: (pkg: string) => Promise<unknown>, trySoftware: boolean): Promise<{ gpu: GpuLike; icd?: string }> {
  let dawn: DawnModule;
  try {
    dawn = (await importer('webgpu')) as DawnModule;
  } catch (err) {
    throw new Error(`cannot load webgpu (Dawn for Node; npm install webgpu): ${(err as Error).message.split('\n')[0]}`);
  }
  // GPUBufferUsage, GPUMapMode, ...: the constants tfjs's backend reads as globals.
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  const gpu = dawn.create([]);
  if (!trySoftware || process.env.VK_ICD_FILENAMES || (await gpu.requestAdapter())) return { gpu };
  // No system driver gave an adapter: when WebGPU is forced, SwiftShader (Vulkan on the CPU) if installed.
  const { existsSync } = nodeBuiltin('node:fs');
  const icd = (process.env.FPT_SWIFTSHADER_ICD ? [process.env.FPT_SWIFTSHADER_ICD] : SWIFTSHADER_ICDS).find((p) => existsSync(p));
  if (!icd) return { gpu };
  process.env.VK_ICD_FILENAMES = icd;
  return { gpu: dawn.create([]), icd };
}

/**
 * Makes `navigator.gpu` available (in Node from the `webgpu` package), picks the high-performance
 * adapter, and loads `@tensorflow/tfjs-backend-webgpu` so that `tf.setBackend('webgpu')` works.
 * @param importer - module loader (resolves `webgpu` and `@tensorflow/tfjs-backend-webgpu`)
 * @param forced - WebGPU was asked for by name: a software adapter is accepted, and in Node, where
 *   no system driver gives an adapter, SwiftShader's Vulkan driver is tried ({@link SWIFTSHADER_ICDS})
 * @returns the adapter's description
 * @throws when no adapter can be created, or (unless forced) when the only one is a software adapter
 */
export async function prepareWebGpu(importer: (pkg: string) => Promise<unknown>, forced: boolean): Promise<GpuAdapterReport> {
  let gpu = navigatorGpu();
  let icd: string | undefined;
  const fromDawn = !gpu;
  if (!gpu) {
    if (!isNode()) throw new Error('this browser has no navigator.gpu (WebGPU is off or unsupported)');
    ({ gpu, icd } = await nodeGpu(importer, forced));
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    const hint = isNode()
      ? `no Vulkan/Metal/D3D12 driver gave one${process.env.VK_ICD_FILENAMES ? ` (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES})` : ''}; ` +
        'on Linux install the GPU driver and the Vulkan loader (libvulkan1), in containers expose the graphics capability ' +
        "(NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics); without a GPU install Debian's chromium for SwiftShader"
      : 'the browser gave none';
    throw new Error(`no WebGPU adapter: ${hint}`);
  }
  const info = adapter.info ?? {};
  const report: GpuAdapterReport = {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    software: isSoftwareAdapter({ ...info, isFallbackAdapter: info.isFallbackAdapter ?? adapter.isFallbackAdapter }),
    limits: { maxBufferSize: adapter.limits.maxBufferSize, maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize },
    ...(icd ? { icd } : {}),
  };
  if (report.software && !forced) {
    throw new Error(
      `the only WebGPU adapter is a software one (${describeAdapter(report)}); it is used only when asked for by name (webgpu)`,
    );
  }
  // Only a usable GPU object becomes navigator.gpu, so that a later forced attempt can still try SwiftShader.
  if (fromDawn) installGpu(gpu);
  let mod: { WebGPUBackend?: WebGpuBackendClass };
  try {
    mod = (await importer('@tensorflow/tfjs-backend-webgpu')) as typeof mod;
  } catch (err) {
    throw new Error(`cannot load @tensorflow/tfjs-backend-webgpu: ${(err as Error).message.split('\n')[0]}`);
  }
  if (mod.WebGPUBackend) registerFactory(mod.WebGPUBackend, adapter);
  return report;
}

/**
 * Replaces tfjs's `webgpu` backend factory (until it is first used) with one that creates the
 * device on the adapter inspected above with every limit the adapter allows: tfjs requests only
 * some (not, e.g., maxStorageBuffersPerShaderStage), and a kernel past a default limit fails.
 */
function registerFactory(WebGPUBackend: WebGpuBackendClass, adapter: AdapterLike): void {
  const registry = (tf.engine() as unknown as { registry: Record<string, unknown> }).registry;
  if (registry.webgpu) return;
  tf.removeBackend('webgpu');
  tf.registerBackend(
    'webgpu',
    async () => {
      const requiredLimits: Record<string, number> = {};
      for (const name in adapter.limits) {
        const value = (adapter.limits as unknown as Record<string, unknown>)[name];
        if (typeof value === 'number') requiredLimits[name] = value;
      }
      const requiredFeatures = ['timestamp-query'].filter((f) => adapter.features.has(f));
      const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
      return new WebGPUBackend(device, adapter.info);
    },
    3,
  );
}

/**
 * Whether the library may read any tensor synchronously: false on WebGPU, where only tensors still
 * holding their host values are read so. In Node a synchronous GPU read cannot work (see
 * {@link guardSyncReads}); in browsers it goes through a canvas, stalls the GPU queue, and in
 * headless Chromium on SwiftShader it broke the device for every later read ("A valid external
 * Instance reference no longer exists" from `mapAsync`).
 */
export function readsSync(): boolean {
  return tf.getBackend() !== 'webgpu' && !(tf.backend() as { fptGuarded?: boolean }).fptGuarded;
}

/**
 * A tensor's values when they can be had without waiting for the GPU: always on backends that read
 * synchronously; on WebGPU in Node only while the values are still on the host (a tensor made from
 * an array and not yet used by a kernel, or one read once with `await data()`), else undefined.
 * @param t - the tensor
 */
export function hostValues(t: tf.Tensor): tf.backend_util.BackendValues | undefined {
  if (readsSync()) return t.dataSync();
  const backend = tf.backend() as unknown as {
    tensorMap?: { get(dataId: object): { values?: tf.backend_util.BackendValues | null } | undefined };
  };
  return backend.tensorMap?.get(t.dataId)?.values ?? undefined;
}

/**
 * After `tf.setBackend('webgpu')`: a synchronous read (`dataSync`, `arraySync`) of a tensor that
 * lives on the GPU needs `OffscreenCanvas`, which Node lacks; it then fails with one sentence saying
 * what to use instead rather than with a ReferenceError from inside tfjs.
 */
export function guardSyncReads(): void {
  if (typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas !== 'undefined') return;
  const backend = tf.backend() as unknown as {
    readSync(dataId: object): unknown;
    tensorMap: { get(dataId: object): { values?: unknown; dtype: string } | undefined };
    fptGuarded?: boolean;
  };
  if (backend.fptGuarded) return;
  const readSync = backend.readSync.bind(backend);
  backend.readSync = (dataId) => {
    const data = backend.tensorMap.get(dataId);
    if (data && data.values == null && data.dtype !== 'string') {
      throw new Error(
        'WebGPU in Node cannot read a GPU tensor synchronously (dataSync/arraySync need OffscreenCanvas): use await tensor.data() ' +
          '(trainStepAsync instead of trainStep)',
      );
    }
    return readSync(dataId);
  };
  backend.fptGuarded = true;
}

/**
 * Resolves when the active backend has finished every kernel queued so far: on WebGPU it submits
 * tfjs's pending commands and awaits the queue's `onSubmittedWorkDone()`, so a time measured
 * around it is the GPU's time, not the time to enqueue. Other backends run kernels as they are
 * called: it resolves at once.
 */
export async function finishQueuedWork(): Promise<void> {
  const backend = tf.backend() as unknown as {
    ensureCommandEncoderReady?: () => void;
    endComputePassEncoder?: () => void;
    submitQueue?: () => void;
    device?: { queue: { onSubmittedWorkDone(): Promise<void> } };
  };
  if (!backend.device || !backend.submitQueue || !backend.endComputePassEncoder || !backend.ensureCommandEncoderReady) return;
  // As tfjs does before its own reads: close the open compute pass, then submit the encoder.
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  backend.submitQueue();
  await backend.device.queue.onSubmittedWorkDone();
}

interface TensorInfoEntry {
  backend?: { disposeData(dataId: object): unknown };
  bytes: number;
  shape: number[];
  dtype: string;
}
interface TensorInfoMapLike {
  has(key: object): boolean;
  get(key: object): TensorInfoEntry | undefined;
  set(key: object, value: TensorInfoEntry): unknown;
  delete(key: object): boolean;
}

/**
 * Refuses every new tensor larger than a limit with one sentence naming its shape, dtype, size
 * and the limit. On WebGPU a buffer past the device's `maxStorageBufferBindingSize` cannot be
 * bound to a kernel: Dawn reports a validation error on stderr and the kernel's output is left
 * unwritten, so training would go on with garbage. {@link selectBackend} installs it for `webgpu`
 * with {@link bindingLimit}, which applies only while WebGPU is the active backend; ops that can be
 * split (attention, a block's batch) are split before they get here.
 * @param limit - the largest tensor allowed, in bytes, or a function giving the limit in force (none: no limit)
 * @param limitName - the limit's name, for the message, when `limit` is a number
 * @returns a function that removes the guard
 */
export function guardTensorBytes(limit: number | (() => BindingLimit | undefined), limitName = 'maxStorageBufferBindingSize'): () => void {
  const state = (
    tf.engine() as unknown as { state: { tensorInfo: TensorInfoMapLike; numTensors: number; numDataBuffers: number; numBytes: number } }
  ).state;
  const original = state.tensorInfo;
  const current = typeof limit === 'number' ? () => ({ bytes: limit, name: limitName }) : limit;
  state.tensorInfo = {
    has: (k) => original.has(k),
    get: (k) => original.get(k),
    set(k, v) {
      if (!original.has(k)) {
        const inForce = current();
        if (inForce && v.bytes > inForce.bytes) {
          // Undo what tfjs counted for the tensor before registering it, and free its buffer:
          // a refused tensor leaves nothing behind.
          state.numTensors--;
          state.numDataBuffers--;
          state.numBytes -= v.bytes;
          v.backend?.disposeData(k);
          throw new Error(bindingLimitMessage(`a ${v.dtype} tensor of shape [${v.shape}]`, v.bytes, inForce));
        }
      }
      original.set(k, v);
      return this;
    },
    delete: (k) => original.delete(k),
  };
  return () => {
    state.tensorInfo = original;
  };
}
