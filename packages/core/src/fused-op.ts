import * as tf from '@tensorflow/tfjs-core';

// Fused ops with hand-written gradients. tfjs keeps every tensor an op saves for backward until
// the whole backward pass ends, and composed ops save many (layer norm alone saved four
// full-size tensors); these save only what their backward needs, as PyTorch's kernels do. Their
// inner ops are not recorded on the tape and their intermediates are freed at once.

/**
 * What a fused op computes: its value, and the gradient of its inputs from what it saved. The
 * inputs and the saved tensors are tuples of known length, so a body destructures them unchecked.
 */
export type FusedBody<Inputs extends tf.Tensor[], Saved extends tf.Tensor[]> = (
  inputs: Inputs,
  save: (tensors: Saved) => void,
) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: Saved) => tf.Tensor[] };

/** Short for the labelled tuples of fused ops (`[q: T, k: T, v: T]`). */
export type T = tf.Tensor;

/** `tf.customGrad` with the inputs as an array (its own typing mixes inputs and the save function). */
export function fusedOp<Inputs extends tf.Tensor[], Saved extends tf.Tensor[]>(
  body: FusedBody<Inputs, Saved>,
): (...inputs: Inputs) => tf.Tensor {
  const op = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args.pop() as tf.GradSaveFunc;
    // tfjs passes the op's inputs as they were given, and hands back what was saved.
    const { value, gradFunc } = body(args as Inputs, save as (tensors: Saved) => void);
    // tfjs runs a custom gradient eagerly, outside any scope of its own: free its intermediates.
    return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => gradFunc(dy, saved as Saved)) };
  }) as Parameters<typeof tf.customGrad>[0]);
  return (...inputs) => op(...inputs);
}
