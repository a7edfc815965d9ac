/**
 * `@fpt/prompts`: learnable prompt banks (FPT+ fine-grained prompts, VPT prompt tokens).
 * @packageDocumentation
 */
export * from './bank';
