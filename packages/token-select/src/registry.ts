import { allSelector, classTokenSelector, globalSelector, randomSelector, type TokenSelector } from './selectors';

/** Names of the built-in selection criteria. */
export type TokenCriterion = 'global' | 'class_token' | 'random' | 'all';

const factories = new Map<string, (seed: number) => TokenSelector>([
  ['global', () => globalSelector],
  ['class_token', () => classTokenSelector],
  ['random', (seed) => randomSelector(seed)],
  ['all', () => allSelector],
]);

/**
 * Makes a selector available by name to {@link getSelector} (and so to every config that names a
 * criterion).
 * @param name - the criterion name
 * @param factory - builds the selector; receives the configured seed
 */
export function registerSelector(name: string, factory: (seed: number) => TokenSelector): void {
  if (factories.has(name)) throw new Error(`registerSelector: criterion "${name}" is already registered`);
  factories.set(name, factory);
}

/**
 * The selector of a criterion.
 * @param criterion - a built-in or registered name
 * @param seed - used by random strategies (default 0)
 * @throws naming the criterion and listing the known ones
 */
export function getSelector(criterion: TokenCriterion | string, seed = 0): TokenSelector {
  const f = factories.get(criterion);
  if (!f) throw new Error(`unknown token-selection criterion "${criterion}"; known: ${[...factories.keys()].join(', ')}`);
  return f(seed);
}

/** Names of every registered criterion. */
export function selectorNames(): string[] {
  return [...factories.keys()];
}
