import { FusedKernel } from '@fpt/core';
import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from './native';
import type { WasmBackendLike } from './backends';

// Element-wise kernels, reductions and copies of the WASM backend on the native addon: the addon
// reads and writes the WASM heap in place, on every thread, vectorised. The stock kernels they
// replace run on one thread, Erf and Exp through scalar libm calls, every reduction over leading
// axes after a transposed copy, Tile and Slice element by element.

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/** One replaced (or added) kernel: which calls it takes, and how. */
export interface NativeOp {
  /** The tfjs kernel name. */
  kernelName: string;
  /** Whether this call is ours; the others go to the stock kernel. */
  handles: (inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) => boolean;
  /** The kernel. */
  impl: (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const f32 = (t: tf.TensorInfo | undefined) => t?.dtype === 'float32';
// Copies move 4-byte elements of any type.
const fourBytes = (t: tf.TensorInfo | undefined) => t?.dtype === 'float32' || t?.dtype === 'int32';

/** The WASM heap as floats, and a tensor's element offset in it (read after every allocation). */
function heap(backend: WasmBackendLike): Float32Array {
  return new Float32Array(backend.wasm.HEAPU8.buffer);
}
function at(backend: WasmBackendLike, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset / 4;
}

/** Row-major strides of a shape, in elements. */
function stridesOf(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let step = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = step;
    step *= shape[d]!;
  }
  return s;
}

/**
 * A new tensor copied from `x` read over `shape` at `strides` from element `offset` on, shaped
 * `outShape` (same size; default `shape`).
 */
function stridedCopy(
  addon: NativeAddon,
  backend: WasmBackendLike,
  x: tf.TensorInfo,
  offset: number,
  shape: number[],
  strides: number[],
  outShape = shape,
) {
  const out = backend.makeOutput(outShape, x.dtype);
  const h = heap(backend);
  addon.stridedCopy(h, at(backend, x) + offset, h, at(backend, out), Float64Array.from(shape), Float64Array.from(strides));
  return out;
}

function unary(addon: NativeAddon, kernelName: string, op: 'exp' | 'erf' | 'sqrt' | 'rsqrt'): NativeOp {
  return {
    kernelName,
    handles: (inputs) => f32(inputs.x),
    impl: ({ inputs, backend }) => {
      const b = backend as WasmBackendLike;
      const x = inputs.x as tf.TensorInfo;
      const out = b.makeOutput(x.shape, 'float32');
      const h = heap(b);
      addon.unary(op, h, at(b, x), h, at(b, out), size(x.shape));
      return out;
    },
  };
}

/**
 * The reduced axes as one block [outer, r, inner] of the shape, when they are contiguous (axes of
 * size 1 in between count as reduced); else undefined.
 */
function reductionBlock(shape: number[], axes: number[]): { outer: number; r: number; inner: number } | undefined {
  if (axes.length === 0) return undefined;
  const sorted = [...axes].sort((a, b) => a - b);
  const first = sorted[0]!;
  const last = sorted[sorted.length - 1]!;
  for (let d = first; d <= last; d++) if (!sorted.includes(d) && shape[d] !== 1) return undefined;
  return { outer: size(shape.slice(0, first)), r: size(shape.slice(first, last + 1)), inner: size(shape.slice(last + 1)) };
}

function reduction(
  addon: NativeAddon,
  kernelName: string,
  op: 'sum' | 'mean' | 'max' | 'min',
  axisAttr: 'axis' | 'reductionIndices',
): NativeOp {
  const axesOf = (x: tf.TensorInfo, attrs: tf.NamedAttrMap) => tf.util.parseAxisParam(attrs[axisAttr] as number | number[], x.shape);
  return {
    kernelName,
    handles: (inputs, attrs) => {
      const x = inputs.x;
      if (!f32(x) || size(x!.shape) === 0) return false;
      const block = reductionBlock(x!.shape, axesOf(x!, attrs));
      return block !== undefined && block.r > 0;
    },
    impl: ({ inputs, backend, attrs = {} }) => {
      const b = backend as WasmBackendLike;
      const x = inputs.x as tf.TensorInfo;
      const axes = axesOf(x, attrs);
      const { outer, r, inner } = reductionBlock(x.shape, axes)!;
      const shape = attrs.keepDims ? x.shape.map((s, d) => (axes.includes(d) ? 1 : s)) : x.shape.filter((_, d) => !axes.includes(d));
      const out = b.makeOutput(shape, 'float32');
      const h = heap(b);
      addon.reduce(op, h, at(b, x), h, at(b, out), outer, r, inner);
      return out;
    },
  };
}

function slice(addon: NativeAddon): NativeOp {
  return {
    kernelName: tf.Slice,
    handles: (inputs) => fourBytes(inputs.x),
    impl: ({ inputs, backend, attrs = {} }) => {
      const b = backend as WasmBackendLike;
      const x = inputs.x as tf.TensorInfo;
      const [begin, shape] = tf.slice_util.parseSliceParams(x as tf.Tensor, attrs.begin as number[], attrs.size as number[]) as [
        number[],
        number[],
      ];
      const strides = stridesOf(x.shape);
      const offset = begin.reduce((sum, at, d) => sum + at * strides[d]!, 0);
      return stridedCopy(addon, b, x, offset, shape, strides);
    },
  };
}

function splitV(addon: NativeAddon): NativeOp {
  return {
    kernelName: tf.SplitV,
    handles: (inputs) => fourBytes(inputs.x),
    impl: ({ inputs, backend, attrs = {} }) => {
      const b = backend as WasmBackendLike;
      const x = inputs.x as tf.TensorInfo;
      const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0]!;
      const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, attrs.numOrSizeSplits as number[] | number, axis);
      const strides = stridesOf(x.shape);
      let start = 0;
      return sizes.map((s) => {
        const shape = x.shape.map((d, i) => (i === axis ? s : d));
        const out = stridedCopy(addon, b, x, start * strides[axis]!, shape, strides);
        start += s;
        return out;
      });
    },
  };
}

function transpose(addon: NativeAddon): NativeOp {
  return {
    kernelName: tf.Transpose,
    handles: (inputs) => fourBytes(inputs.x) && inputs.x!.shape.length <= 8,
    impl: ({ inputs, backend, attrs = {} }) => {
      const b = backend as WasmBackendLike;
      const x = inputs.x as tf.TensorInfo;
      const perm = attrs.perm as number[];
      // The output read from x: axis d of the output is axis perm[d] of x.
      const strides = stridesOf(x.shape);
      return stridedCopy(
        addon,
        b,
        x,
        0,
        perm.map((p) => x.shape[p]!),
        perm.map((p) => strides[p]!),
      );
    },
  };
}

function tile(addon: NativeAddon): NativeOp {
  return {
    kernelName: tf.Tile,
    handles: (inputs) => fourBytes(inputs.x) && inputs.x!.shape.length <= 4,
    impl: ({ inputs, backend, attrs = {} }) => {
      const b = backend as WasmBackendLike;
      const x = inputs.x as tf.TensorInfo;
      const reps = attrs.reps as number[];
      // Tiling reads x as [r0, s0, r1, s1, ...] with stride 0 along each repetition axis.
      const strides = stridesOf(x.shape);
      const view = x.shape.flatMap((s, d) => [reps[d]!, s]);
      const viewStrides = strides.flatMap((s) => [0, s]);
      return stridedCopy(
        addon,
        b,
        x,
        0,
        view,
        viewStrides,
        x.shape.map((s, d) => s * reps[d]!),
      );
    },
  };
}

function concat(addon: NativeAddon): NativeOp {
  const list = (inputs: tf.NamedTensorInfoMap) => Object.values(inputs) as tf.TensorInfo[];
  return {
    kernelName: tf.Concat,
    handles: (inputs) => {
      const xs = list(inputs);
      return xs.length > 0 && xs.every((t) => fourBytes(t) && t.dtype === xs[0]!.dtype && t.shape.length === xs[0]!.shape.length);
    },
    impl: ({ inputs, backend, attrs = {} }) => {
      const b = backend as WasmBackendLike;
      const xs = list(inputs);
      const axis = tf.util.parseAxisParam(attrs.axis as number, xs[0]!.shape)[0]!;
      const shape = tf.backend_util.computeOutShape(
        xs.map((t) => t.shape),
        axis,
      );
      const out = b.makeOutput(shape, xs[0]!.dtype);
      const rows = size(shape.slice(0, axis));
      const width = size(shape.slice(axis));
      const h = heap(b);
      let column = 0;
      for (const x of xs) {
        const cols = size(x.shape.slice(axis));
        if (cols > 0 && rows > 0) addon.copyRows(h, at(b, x), h, at(b, out) + column, rows, cols, width);
        column += cols;
      }
      return out;
    },
  };
}

function softmaxRows(addon: NativeAddon, b: WasmBackendLike, x: tf.TensorInfo, scale: number): tf.TensorInfo {
  const cols = x.shape[x.shape.length - 1]!;
  const out = b.makeOutput(x.shape, 'float32');
  const h = heap(b);
  addon.softmax(h, at(b, x), h, at(b, out), cols === 0 ? 0 : size(x.shape) / cols, cols, scale);
  return out;
}

function softmax(addon: NativeAddon): NativeOp {
  return {
    kernelName: tf.Softmax,
    handles: (inputs, attrs) => {
      const x = inputs.logits;
      const dim = attrs.dim as number;
      return f32(x) && x!.shape.length > 0 && (dim === -1 || dim === x!.shape.length - 1);
    },
    impl: ({ inputs, backend }) => softmaxRows(addon, backend as WasmBackendLike, inputs.logits as tf.TensorInfo, 1),
  };
}

// Below this many output elements the stock binary kernels (XNNPACK, one thread) are as fast: the
// call into the addon and waking a thread cost more than the work.
const MIN_BINARY = 8192;

/** An operand's strides over the (right-aligned) broadcast output shape: 0 along broadcast axes. */
function broadcastStrides(shape: number[], outShape: number[]): number[] {
  const own = stridesOf(shape);
  const lead = outShape.length - shape.length;
  return outShape.map((_, d) => (d < lead || shape[d - lead] === 1 ? 0 : own[d - lead]!));
}

function binary(addon: NativeAddon, kernelName: string, op: 'add' | 'sub' | 'mul' | 'div'): NativeOp {
  return {
    kernelName,
    handles: (inputs) => {
      const { a, b } = inputs;
      if (!f32(a) || !f32(b)) return false;
      const shape = tf.backend_util.assertAndGetBroadcastShape(a!.shape, b!.shape);
      return shape.length <= 8 && size(shape) >= MIN_BINARY;
    },
    impl: ({ inputs, backend }) => {
      const bk = backend as WasmBackendLike;
      const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      const out = bk.makeOutput(shape, 'float32');
      const h = heap(bk);
      const f64 = (xs: number[]) => Float64Array.from(xs);
      addon.binary(
        op,
        h,
        at(bk, a),
        f64(broadcastStrides(a.shape, shape)),
        h,
        at(bk, b),
        f64(broadcastStrides(b.shape, shape)),
        h,
        at(bk, out),
        f64(shape),
      );
      return out;
    },
  };
}

/** The stock kernels replaced on WASM by the native addon's element-wise ones. */
export function wasmNativeOps(addon: NativeAddon): NativeOp[] {
  return [
    binary(addon, tf.Add, 'add'),
    binary(addon, tf.Sub, 'sub'),
    binary(addon, tf.Multiply, 'mul'),
    binary(addon, tf.RealDiv, 'div'),
    unary(addon, tf.Exp, 'exp'),
    unary(addon, tf.Erf, 'erf'),
    unary(addon, tf.Sqrt, 'sqrt'),
    unary(addon, tf.Rsqrt, 'rsqrt'),
    reduction(addon, tf.Sum, 'sum', 'axis'),
    reduction(addon, tf.Mean, 'mean', 'axis'),
    reduction(addon, tf.Max, 'max', 'reductionIndices'),
    reduction(addon, tf.Min, 'min', 'axis'),
    slice(addon),
    splitV(addon),
    concat(addon),
    transpose(addon),
    tile(addon),
    softmax(addon),
  ];
}

const positiveScale = (attrs: tf.NamedAttrMap) => typeof attrs.scale === 'number' && attrs.scale > 0;

/**
 * Core's fused kernels ({@link FusedKernel}) on WASM: AdamW's update, layer normalisation and its
 * backward, GELU and its gradient, the attention's scaled softmax and its backward, each in one
 * pass (per row).
 */
export function wasmFusedOps(addon: NativeAddon): NativeOp[] {
  const lastDim = (t: tf.TensorInfo) => t.shape[t.shape.length - 1]!;
  return [
    {
      kernelName: FusedKernel.layerNorm,
      handles: (inputs, attrs) => {
        const { x, weight, bias } = inputs;
        if (!f32(x) || !f32(weight) || !f32(bias) || x!.shape.length === 0 || typeof attrs.eps !== 'number' || !(attrs.eps >= 0))
          return false;
        const d = lastDim(x!);
        return d > 0 && size(weight!.shape) === d && size(bias!.shape) === d;
      },
      impl: ({ inputs, backend, attrs = {} }) => {
        const b = backend as WasmBackendLike;
        const { x, weight, bias } = inputs as { x: tf.TensorInfo; weight: tf.TensorInfo; bias: tf.TensorInfo };
        const d = lastDim(x);
        const rows = size(x.shape) / d;
        const y = b.makeOutput(x.shape, 'float32');
        const normed = b.makeOutput(x.shape, 'float32');
        const rstd = b.makeOutput([...x.shape.slice(0, -1), 1], 'float32');
        const h = heap(b);
        addon.layerNorm(
          h,
          at(b, x),
          h,
          at(b, weight),
          h,
          at(b, bias),
          h,
          at(b, y),
          h,
          at(b, normed),
          h,
          at(b, rstd),
          rows,
          d,
          attrs.eps as number,
        );
        return [y, normed, rstd];
      },
    },
    {
      kernelName: FusedKernel.layerNormGrad,
      handles: (inputs) => {
        const { dy, normed, rstd, weight } = inputs;
        if (!f32(dy) || !f32(normed) || !f32(rstd) || !f32(weight) || dy!.shape.length === 0) return false;
        const d = lastDim(dy!);
        return (
          d > 0 && tf.util.arraysEqual(dy!.shape, normed!.shape) && size(rstd!.shape) * d === size(dy!.shape) && size(weight!.shape) === d
        );
      },
      impl: ({ inputs, backend }) => {
        const b = backend as WasmBackendLike;
        const { dy, normed, rstd, weight } = inputs as Record<'dy' | 'normed' | 'rstd' | 'weight', tf.TensorInfo>;
        const d = lastDim(dy);
        const dx = b.makeOutput(dy.shape, 'float32');
        const dw = b.makeOutput(weight.shape, 'float32');
        const db = b.makeOutput(weight.shape, 'float32');
        const h = heap(b);
        addon.layerNormGrad(
          h,
          at(b, dy),
          h,
          at(b, normed),
          h,
          at(b, rstd),
          h,
          at(b, weight),
          h,
          at(b, dx),
          h,
          at(b, dw),
          h,
          at(b, db),
          size(dy.shape) / d,
          d,
        );
        return [dx, dw, db];
      },
    },
    {
      kernelName: FusedKernel.adamw,
      handles: (inputs, attrs) => {
        const { param, m, v, g } = inputs;
        const numbers = ['decay', 'beta1', 'beta2', 'eps', 'sqrtBc2', 'step'].every((k) => typeof attrs[k] === 'number');
        if (attrs.gradScale !== undefined && typeof attrs.gradScale !== 'number') return false;
        return numbers && [param, m, v, g].every((t) => f32(t) && tf.util.arraysEqual(t!.shape, param!.shape));
      },
      impl: ({ inputs, backend, attrs = {} }) => {
        const b = backend as WasmBackendLike;
        const { param, m, v, g } = inputs as Record<'param' | 'm' | 'v' | 'g', tf.TensorInfo>;
        const outs = [param, m, v].map((t) => b.makeOutput(t.shape, 'float32')) as [tf.TensorInfo, tf.TensorInfo, tf.TensorInfo];
        const a = attrs as Record<'decay' | 'beta1' | 'beta2' | 'eps' | 'sqrtBc2' | 'step', number> & { gradScale?: number };
        const h = heap(b);
        const constants = Float64Array.from([
          a.decay,
          a.beta1,
          1 - a.beta1,
          a.beta2,
          1 - a.beta2,
          a.sqrtBc2,
          a.eps,
          a.step,
          a.gradScale ?? 1,
        ]);
        const [p1, m1, v1] = outs;
        addon.adamw(
          h,
          at(b, param),
          h,
          at(b, m),
          h,
          at(b, v),
          h,
          at(b, g),
          h,
          at(b, p1),
          h,
          at(b, m1),
          h,
          at(b, v1),
          size(param.shape),
          constants,
        );
        return outs;
      },
    },
    {
      kernelName: FusedKernel.linear,
      handles: (inputs, attrs) => {
        const { x, weight, bias } = inputs;
        return (
          f32(x) &&
          f32(weight) &&
          f32(bias) &&
          x!.shape.length === 2 &&
          weight!.shape.length === 2 &&
          bias!.shape.length === 1 &&
          x!.shape[1] === weight!.shape[1] &&
          bias!.shape[0] === weight!.shape[0] &&
          (attrs.activation === 'linear' || attrs.activation === 'gelu')
        );
      },
      impl: ({ inputs, backend, attrs = {} }) => {
        const b = backend as WasmBackendLike;
        const { x, weight, bias } = inputs as { x: tf.TensorInfo; weight: tf.TensorInfo; bias: tf.TensorInfo };
        const [m, k] = x.shape as [number, number];
        const n = weight.shape[0]!;
        const out = b.makeOutput([m, n], 'float32');
        const h = heap(b);
        addon.linear(h, at(b, x), h, at(b, weight), h, at(b, bias), h, at(b, out), m, n, k, attrs.activation === 'gelu');
        return out;
      },
    },
    {
      kernelName: FusedKernel.gelu,
      handles: (inputs) => f32(inputs.x),
      impl: ({ inputs, backend }) => {
        const b = backend as WasmBackendLike;
        const x = inputs.x as tf.TensorInfo;
        const out = b.makeOutput(x.shape, 'float32');
        const h = heap(b);
        addon.unary('gelu', h, at(b, x), h, at(b, out), size(x.shape));
        return out;
      },
    },
    {
      kernelName: FusedKernel.geluGrad,
      handles: (inputs) => f32(inputs.x) && f32(inputs.dy) && tf.util.arraysEqual(inputs.x!.shape, inputs.dy!.shape),
      impl: ({ inputs, backend }) => {
        const b = backend as WasmBackendLike;
        const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
        const out = b.makeOutput(x.shape, 'float32');
        const h = heap(b);
        addon.geluGrad(h, at(b, x), h, at(b, dy), h, at(b, out), size(x.shape));
        return out;
      },
    },
    {
      kernelName: FusedKernel.scaledSoftmax,
      handles: (inputs, attrs) => f32(inputs.x) && inputs.x!.shape.length > 0 && positiveScale(attrs),
      impl: ({ inputs, backend, attrs = {} }) =>
        softmaxRows(addon, backend as WasmBackendLike, inputs.x as tf.TensorInfo, attrs.scale as number),
    },
    {
      kernelName: FusedKernel.softmaxGrad,
      handles: (inputs, attrs) =>
        f32(inputs.p) &&
        f32(inputs.dp) &&
        inputs.p!.shape.length > 0 &&
        tf.util.arraysEqual(inputs.p!.shape, inputs.dp!.shape) &&
        typeof attrs.scale === 'number',
      impl: ({ inputs, backend, attrs = {} }) => {
        const b = backend as WasmBackendLike;
        const { p, dp } = inputs as { p: tf.TensorInfo; dp: tf.TensorInfo };
        const cols = p.shape[p.shape.length - 1]!;
        const out = b.makeOutput(p.shape, 'float32');
        const h = heap(b);
        addon.softmaxGrad(h, at(b, p), h, at(b, dp), h, at(b, out), cols === 0 ? 0 : size(p.shape) / cols, cols, attrs.scale as number);
        return out;
      },
    },
  ];
}
