import type * as tf from '@tensorflow/tfjs-core';

/** One size per name of a layout: `['B', 'N', 'D']` gives `[number, number, number]`. */
export type Dims<Layout extends readonly string[]> = { -readonly [K in keyof Layout]: number };

/**
 * The shape of `x`, checked against a layout and typed as a tuple of its length, so that
 * `const [b, n, d] = dims(tokens, ['B', 'N', 'D'], 'splitHeads: x')` needs no assertion and a
 * tensor of another rank fails here with a message instead of giving `undefined` sizes.
 * @param x - the tensor
 * @param layout - one name per expected axis (only their number is checked)
 * @param what - where the tensor comes from, for the error (`'attention: q'`)
 * @throws when `x` has another rank, naming `what`, its shape and the layout expected
 */
export function dims<const Layout extends readonly string[]>(x: tf.Tensor, layout: Layout, what: string): Dims<Layout> {
  if (x.rank !== layout.length) throw new Error(`${what} has shape [${x.shape}], expected [${layout.join(', ')}]`);
  return x.shape as Dims<Layout>;
}

/**
 * The size of `x`'s last axis (the feature axis of tokens and activations).
 * @param x - a tensor of rank 1 or more
 * @param what - where the tensor comes from, for the error
 * @throws when `x` is a scalar, naming `what`
 */
export function lastDim(x: tf.Tensor, what: string): number {
  const size = x.shape.at(-1);
  if (size === undefined) throw new Error(`${what} is a scalar, expected a tensor with a feature axis`);
  return size;
}
