import { describe, expect, it } from 'vitest';
import { adapterPfeiffer, lora, vptDeep } from '../src/index';

// Compile-time checks: `pnpm test` type-checks this file, and each @ts-expect-error fails the
// type-check if the line below it ever compiles.
describe('typed factories', () => {
  it('refuse misspelt options and wrong value types at compile time (and at run time)', () => {
    // @ts-expect-error: no option "rnak"
    expect(() => lora({ rnak: 8 })).toThrow('lora: unknown option "rnak"');
    // @ts-expect-error: rank is a number
    expect(() => lora({ rank: '8' })).toThrow('lora: option "rank" must be a positive integer, got "8"');
    // @ts-expect-error: prompts is a number
    expect(() => vptDeep({ prompts: [16] })).toThrow(/option "prompts" must be a positive integer/);
    // @ts-expect-error: only relu or gelu
    expect(() => adapterPfeiffer({ activation: 'tanh' })).toThrow(/"activation" must be one of relu, gelu/);
    expect(lora({ rank: 8, targets: ['qkv'] }).config.rank).toBe(8);
  });
});
