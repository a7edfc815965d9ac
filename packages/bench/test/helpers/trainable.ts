import { makeMethod } from '../../src/commands/methods';
import { createLpm, type LpmSpec } from '../../src/run/lpm';
import { buildTrainable, type Trainable } from '../../src/run/trainable';

/** A method with no options, built as a run builds it, on a fresh LPM of `lpm` with a 2-class head (seed 0). */
export function trainableOn(method: string, lpm: LpmSpec): Trainable {
  return buildTrainable({
    method,
    options: {},
    make: makeMethod,
    numClasses: 2,
    seed: 0,
    lpm: createLpm(lpm),
    lpmInputSize: lpm.inputSize,
  });
}
