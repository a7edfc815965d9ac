/** How the table and plots name a method (the paper's row names where it has one). */
export const METHOD_LABELS: Record<string, string> = {
  full: 'Full fine-tuning',
  'vpt-deep': 'Prompt tuning (VPT-deep)',
  'adapter-houlsby': 'Adapter (Houlsby)',
  lora: 'LoRA',
  fpt: 'FPT',
  'fpt-plus': 'FPT+',
  linear: 'Linear probe',
  dora: 'DoRA',
  ia3: '(IA)³',
};

/** The label of a method: its paper name, else its CLI name. */
export function methodLabel(method: string): string {
  return METHOD_LABELS[method] ?? method;
}
