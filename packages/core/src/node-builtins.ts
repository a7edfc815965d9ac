// Node's builtin modules for the few Node-only paths of this package's main entry (backend
// selection, SwiftShader discovery), reached through `process.getBuiltinModule` (Node 20.16+)
// rather than `import('node:...')`: browsers load this entry too, and a bundler resolves every
// import it sees, so an import of a builtin would put a Node shim into the browser bundle.

interface Builtins {
  'node:fs': typeof import('node:fs');
  'node:module': typeof import('node:module');
  'node:url': typeof import('node:url');
}

/**
 * Node's builtin module `id`.
 * @throws outside Node, or on a Node without `process.getBuiltinModule` (before 20.16), saying so
 */
export function nodeBuiltin<K extends keyof Builtins>(id: K): Builtins[K] {
  const get = typeof process !== 'undefined' ? process.getBuiltinModule : undefined;
  if (typeof get !== 'function') {
    throw new Error(`${id} is needed here, which requires Node 20.16 or later (process.getBuiltinModule); this runtime has none`);
  }
  return get(id) as Builtins[K];
}
