/**
 * The paper's parameter-efficiency score: PPE = score * exp(-log10(r / 100 + 1)), r the learnable
 * share in percent ([metrics](../../../../docs/method.md#metrics)).
 */
export function ppe(score: number, learnablePercent: number): number {
  return score * Math.exp(-Math.log10(learnablePercent / 100 + 1));
}

/**
 * The paper's memory-efficiency score: PME = score * exp(-log10(m / m_ft + 1)), m the method's
 * training memory and m_ft full fine-tuning's ([metrics](../../../../docs/method.md#metrics)).
 */
export function pme(score: number, memory: number, fullFinetuneMemory: number): number {
  return score * Math.exp(-Math.log10(memory / fullFinetuneMemory + 1));
}
