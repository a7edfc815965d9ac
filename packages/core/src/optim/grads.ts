import * as tf from '@tensorflow/tfjs-core';
import { markBufferPhase } from '../memory';

// tfjs's own `variableGrads` keeps every tensor saved for backward and every intermediate
// gradient alive until the whole backward pass ends, so a training step holds the activations
// and their gradients at once. This walks the same tape but frees each node's output gradients
// and saved tensors as soon as that node is done, as PyTorch's autograd does. The numbers are
// the same (same gradient functions, same accumulation order). It reads tfjs's engine internals
// (the tape, its nodes), which @tensorflow/tfjs-core 4.x keeps stable.

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  addTapeNode(
    kernelName: string,
    inputs: Record<string, tf.Tensor>,
    outputs: tf.Tensor[],
    gradientsFunc: unknown,
    saved: tf.Tensor[],
    attrs: Record<string, unknown>,
  ): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(name: string | (() => T), f?: () => T): T;
}

type Dy = tf.Tensor | null;

let neededInputs: Set<string> | undefined;

/**
 * Inside a custom gradient run by {@link variableGradsFreeing}: whether input `i` of the op needs
 * its gradient (false when it does not depend on a trained variable, e.g. cached keys). Fused ops
 * skip such gradients; under any other gradient computation every input counts as needed.
 * @internal
 */
export function gradientNeeded(i: number): boolean {
  return neededInputs ? neededInputs.has(String(i)) : true;
}
type ShapeGradient = (node: TapeNode, attrs: Record<string, unknown>) => (dys: Dy[]) => Record<string, () => tf.Tensor>;

/** A node's input by the name its kernel gives it (Add: a, b; Reshape: x). */
function inputOf(node: TapeNode, name: string): tf.Tensor {
  const t = node.inputs[name];
  if (!t)
    throw new Error(
      `variableGradsFreeing: ${node.kernelName} node has no input "${name}" (inputs: ${Object.keys(node.inputs).join(', ')})`,
    );
  return t;
}

/** A node's `i`th output. */
function outputOf(node: TapeNode, i: number): tf.Tensor {
  const t = node.outputs[i];
  if (!t) throw new Error(`variableGradsFreeing: ${node.kernelName} node has ${node.outputs.length} outputs, asked for output ${i}`);
  return t;
}

const dyOf = (node: TapeNode, dys: Dy[], i = 0): tf.Tensor => dys[i] ?? tf.zeros(outputOf(node, i).shape);

/** Sums a broadcast gradient back to an input's shape. */
function reduceTo(dy: tf.Tensor, shape: number[]): tf.Tensor {
  const axes = tf.backend_util.getReductionAxes(shape, dy.shape);
  return tf.reshape(axes.length ? tf.sum(dy, axes) : dy, shape);
}

/**
 * Gradients of kernels that need only their inputs' shapes, while tfjs's own gradient configs save
 * whole input tensors for them (Add saves both operands, Reshape its input, ...), which keeps
 * buffers alive that nothing else needs. Shapes are read when the node is recorded.
 */
const SHAPE_GRADIENTS: Record<string, ShapeGradient> = {
  Reshape: (node) => {
    const shape = inputOf(node, 'x').shape;
    return (dys) => ({ x: () => tf.reshape(dyOf(node, dys), shape) });
  },
  Add: (node) => {
    const [a, b] = [inputOf(node, 'a').shape, inputOf(node, 'b').shape];
    return (dys) => ({ a: () => reduceTo(dyOf(node, dys), a), b: () => reduceTo(dyOf(node, dys), b) });
  },
  Sub: (node) => {
    const [a, b] = [inputOf(node, 'a').shape, inputOf(node, 'b').shape];
    return (dys) => ({ a: () => reduceTo(dyOf(node, dys), a), b: () => tf.neg(reduceTo(dyOf(node, dys), b)) });
  },
  AddN: (node) => (dys) => Object.fromEntries(Object.keys(node.inputs).map((k) => [k, () => dyOf(node, dys)])),
  Concat: (node, attrs) => {
    const keys = Object.keys(node.inputs);
    const shapes = keys.map((k) => inputOf(node, k).shape);
    const [first] = shapes;
    if (!first) throw new Error('variableGradsFreeing: Concat node has no inputs');
    const axis = tf.util.parseAxisParam(attrs.axis as number, first)[0]!; // one axis in, one out
    // Concat's inputs share their rank, so every one has the axis.
    const sizes = shapes.map((shape) => shape[axis]!);
    return (dys) => {
      let parts: tf.Tensor[] | undefined;
      const part = (i: number) => {
        parts ??= tf.split(dyOf(node, dys), sizes, axis);
        return parts[i]!; // one part per input
      };
      return Object.fromEntries(keys.map((k, i) => [k, () => part(i)]));
    };
  },
  PadV2: (node, attrs) => {
    const shape = inputOf(node, 'x').shape;
    const begin = (attrs.paddings as Array<[number, number]>).map((p) => p[0]);
    return (dys) => ({ x: () => tf.slice(dyOf(node, dys), begin, shape) });
  },
  Slice: (node, attrs) => {
    const shape = inputOf(node, 'x').shape;
    // parseSliceParams returns [begin, size], each of the input's rank.
    const begin = tf.slice_util.parseSliceParams(
      { shape } as unknown as tf.TensorInfo,
      attrs.begin as number[],
      attrs.size as number[],
    )[0]!;
    const out = outputOf(node, 0).shape;
    return (dys) => ({
      x: () =>
        tf.pad(
          dyOf(node, dys),
          shape.map((d, i) => [begin[i]!, d - begin[i]! - out[i]!] as [number, number]),
        ),
    });
  },
};

/** Kernels whose gradient for one operand reads only the other: save an operand only if the other needs a gradient. */
const PAIRED = new Set(['BatchMatMul', 'Multiply']);

/**
 * Trims a node as it is recorded: nodes that no gradient passes through drop their saved tensors,
 * shape-only kernels get shape-based gradients and drop theirs, and matrix/element products keep
 * an operand only when the other operand needs a gradient (a frozen weight's input is not kept).
 */
function trimNode(node: TapeNode, attrs: Record<string, unknown>, needsGrad: Set<number>): void {
  const names = Object.keys(node.inputs);
  const needs = Object.values(node.inputs).map((t) => needsGrad.has(t.id));
  const drop = (t: tf.Tensor | undefined) => t?.dispose();
  if (!needs.some(Boolean)) {
    (node.saved ?? []).forEach(drop);
    node.saved = [];
    return;
  }
  for (const o of node.outputs) needsGrad.add(o.id);
  const shapeGrad = SHAPE_GRADIENTS[node.kernelName];
  if (shapeGrad) {
    node.gradient = shapeGrad(node, attrs);
    (node.saved ?? []).forEach(drop);
    node.saved = [];
    return;
  }
  if (PAIRED.has(node.kernelName) && node.saved?.length === 2) {
    const ia = names.indexOf('a');
    const ib = names.indexOf('b');
    if (ib >= 0 && !needs[ib]) drop(node.saved[0]); // a's copy only serves b's gradient
    if (ia >= 0 && !needs[ia]) drop(node.saved[1]); // b's copy only serves a's gradient
  }
}

/** The nodes on a path from one of `xs` to `y`, inputs pruned to those that depend on `xs`. */
function nodesFromXToY(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set(xs.map((x) => x.id));
  const nodeFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      nodeFromX.add(node.id);
      for (const o of node.outputs) fromX.add(o.id);
    }
  }
  const toY = new Set([y.id]);
  const nodeToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((o) => toY.has(o.id))) {
      nodeToY.add(node.id);
      for (const t of Object.values(node.inputs)) toY.add(t.id);
    }
  }
  const out: TapeNode[] = [];
  for (const node of tape) {
    if (!nodeFromX.has(node.id) || !nodeToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, t] of Object.entries(node.inputs)) if (fromX.has(t.id)) inputs[name] = t;
    out.push({ ...node, inputs });
  }
  return out;
}

/**
 * Whether a gradient is being recorded (inside `tf.grad`, `tf.variableGrads`,
 * {@link variableGradsFreeing}, ...). Outside one, a forward pass may free each layer's
 * intermediates as soon as the next layer has its input, since no backward pass will read them.
 */
export function recordingGradients(): boolean {
  return (tf.engine() as unknown as EngineInternals).state.gradientDepth > 0;
}

/**
 * Gradients of the scalar `f()` with respect to the trainable variables in `varList`, like
 * `tf.variableGrads`, but with memory freed during the backward pass: a node's saved tensors and
 * the gradients of its outputs are disposed once the node has been back-propagated, and nodes that
 * no gradient passes through drop their saved tensors before the backward pass starts. Falls back
 * to `tf.variableGrads` inside another gradient computation (higher-order gradients).
 * @param f - the loss
 * @param varList - the variables (non-trainable ones are skipped)
 * @returns the loss and the gradients by variable name (absent when a variable does not reach the loss)
 */
export function variableGradsFreeing(f: () => tf.Scalar, varList: tf.Variable[]): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const engine = tf.engine() as unknown as EngineInternals;
  if (recordingGradients()) return tf.variableGrads(f, varList) as { value: tf.Scalar; grads: Record<string, tf.Tensor> };
  const xs = varList.filter((v) => v.trainable);
  if (xs.length === 0) throw new Error('variableGradsFreeing: none of the variables is trainable');
  // While the forward pass records, each node is trimmed to what backward will read.
  const needsGrad = new Set(xs.map((x) => x.id));
  const own = engine as unknown as Record<string, unknown>;
  own.addTapeNode = function (this: EngineInternals, ...args: Parameters<EngineInternals['addTapeNode']>) {
    Object.getPrototypeOf(engine).addTapeNode.apply(this, args);
    const node = this.state.activeTape?.at(-1);
    if (!node) throw new Error(`variableGradsFreeing: tfjs recorded no tape node for ${args[0]}`);
    trimNode(node, args[5] ?? {}, needsGrad);
  };
  let y: tf.Scalar;
  try {
    y = engine.scopedRun(
      () => engine.startTape(),
      () => engine.endTape(),
      () => engine.tidy('forward', f),
    ) as tf.Scalar;
  } finally {
    delete own.addTapeNode;
  }
  if (!(y instanceof tf.Tensor) || y.rank !== 0) throw new Error('variableGradsFreeing: f must return a scalar tensor');
  markBufferPhase(); // the forward pass ends here: memory measurements tell its peak from backward's
  const tape = engine.state.activeTape ?? [];
  const path = nodesFromXToY(tape, xs, y);
  const onPath = new Set(path.map((n) => n.id));
  try {
    // Saved tensors of nodes off every gradient path are never read.
    for (const node of tape) if (!onPath.has(node.id)) for (const t of node.saved ?? []) t.dispose();
    const grads = engine.tidy('backward', () => {
      const acc = new Map<number, tf.Tensor>([[y.id, tf.onesLike(y)]]);
      for (let i = path.length - 1; i >= 0; i--) {
        const node = path[i]!;
        if (!node.gradient) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
        const dys = node.outputs.map((o) => acc.get(o.id) ?? null);
        const inputs = Object.entries(node.inputs);
        const names = inputs.map(([name]) => name);
        // One scope for the node's whole gradient: custom gradients compute eagerly inside
        // node.gradient(), and their intermediates must go with the rest.
        const dxs = engine.tidy(() => {
          neededInputs = new Set(names);
          let inputGrads: Record<string, () => tf.Tensor>;
          try {
            inputGrads = node.gradient!(dys);
          } finally {
            neededInputs = undefined;
          }
          return names.map((name) => {
            const grad = inputGrads[name];
            if (!grad) throw new Error(`Cannot backprop through input ${name} of ${node.kernelName}.`);
            return grad();
          });
        });
        const produced = new Set<tf.Tensor>();
        inputs.forEach(([name, x], j) => {
          let dx = dxs[j]!; // one gradient per input, in order
          // A gradient handed on as the very tensor object (dy itself, or one given to another
          // input) gets its own handle, so that every map entry can be disposed on its own.
          if (dys.includes(dx) || produced.has(dx)) dx = tf.clone(dx);
          if (!tf.util.arraysEqual(dx.shape, x.shape)) {
            throw new Error(
              `Error in gradient for op ${node.kernelName}: gradient of input "${name}" has shape [${dx.shape}], expected [${x.shape}]`,
            );
          }
          produced.add(dx);
          const prev = acc.get(x.id);
          if (prev) {
            acc.set(x.id, tf.add(prev, dx));
            prev.dispose();
            dx.dispose();
          } else {
            acc.set(x.id, dx);
          }
        });
        // The node is done: its outputs' gradients and its saved tensors are not needed any more.
        for (const o of node.outputs) {
          acc.get(o.id)?.dispose();
          acc.delete(o.id);
        }
        for (const t of node.saved ?? []) t.dispose();
      }
      const named: Record<string, tf.Tensor> = {};
      for (const v of xs) {
        const g = acc.get(v.id);
        if (g) named[v.name] = g;
      }
      return named;
    });
    return { value: y, grads };
  } finally {
    for (const node of tape) for (const t of node.saved ?? []) t.dispose();
    engine.state.activeTape = null;
  }
}
