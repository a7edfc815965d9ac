// The bench's folders are layered (README, "How the code is layered"): a folder imports only folders
// of lower layers, so nothing low (the result schema, the runner) can reach the command line, and no
// two folders depend on each other. This test reads every import of src/ and names each one that
// breaks the order, and each cycle between folders.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src', import.meta.url));

/** The layers, lowest first; `.` is src/ itself (cli.ts, index.ts). A folder imports only folders of lower layers. */
const LAYERS: string[][] = [
  ['files', 'metrics', 'paper', 'terminal', 'backend'],
  ['data', 'hub', 'memory'],
  ['results'],
  ['run', 'perf', 'parity', 'cluster'],
  ['commands'],
  ['.'],
];

/** One relative import: the importing file and folder, the specifier, the imported folder. */
interface Import {
  file: string;
  from: string;
  specifier: string;
  to: string;
}

/** Every `.ts` file under a folder. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** The src/ folder a path lies in (its first segment), `.` for src/ itself. */
function folderOf(path: string): string {
  const rel = relative(SRC, path);
  return rel.includes(sep) ? rel.split(sep, 1)[0]! : '.';
}

/** Every relative import of src/ (static, dynamic and `export ... from`), read by the TypeScript compiler's pre-processor. */
function imports(): Import[] {
  return sources(SRC).flatMap((path) => {
    const { importedFiles } = ts.preProcessFile(readFileSync(path, 'utf8'), true, true);
    return importedFiles
      .filter((f) => f.fileName.startsWith('.'))
      .map((f) => ({
        file: relative(SRC, path),
        from: folderOf(path),
        specifier: f.fileName,
        to: folderOf(resolve(dirname(path), f.fileName)),
      }));
  });
}

/**
 * What breaks the layering: a folder not placed in a layer, an import that leaves src/, an import of
 * a folder that is not in a lower layer, and each cycle between folders (with the imports that make it).
 */
function layerViolations(all: Import[], layers: string[][], folders: string[]): string[] {
  const layerOf = new Map(layers.flatMap((names, i) => names.map((n) => [n, i] as const)));
  const out: string[] = [];
  for (const f of folders) if (!layerOf.has(f)) out.push(`src/${f}/ is in no layer: add it to LAYERS (and the README)`);
  for (const f of layerOf.keys())
    if (!folders.includes(f)) out.push(`LAYERS names src/${f}/, which does not exist: remove it (and from the README)`);
  const across = all.filter((i) => i.from !== i.to);
  for (const i of across) {
    const [a, b] = [layerOf.get(i.from), layerOf.get(i.to)];
    if (i.to.startsWith('..')) out.push(`src/${i.file} imports "${i.specifier}", outside src/`);
    else if (a !== undefined && b !== undefined && b >= a)
      out.push(
        `src/${i.file} imports "${i.specifier}": ${i.from}/ (layer ${a}) may import only lower layers, and ${i.to}/ is layer ${b}${b > a ? ' (an upward import)' : ' (the same layer)'}`,
      );
  }
  // Cycles between folders, found by a depth-first walk of the folder graph.
  const edges = new Map<string, Map<string, Import>>();
  for (const i of across) {
    if (!edges.has(i.from)) edges.set(i.from, new Map());
    if (!edges.get(i.from)!.has(i.to)) edges.get(i.from)!.set(i.to, i);
  }
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const seen = new Set<string>();
  const visit = (f: string) => {
    state.set(f, 'open');
    path.push(f);
    for (const [to] of edges.get(f) ?? []) {
      if (state.get(to) === 'open') {
        const cycle = [...path.slice(path.indexOf(to)), to];
        const key = [...cycle.slice(0, -1)].sort().join('|');
        if (!seen.has(key)) {
          seen.add(key);
          const steps = cycle.slice(0, -1).map((x, k) => edges.get(x)!.get(cycle[k + 1]!)!); // k + 1 < cycle.length
          out.push(
            `cycle ${cycle.map((x) => `${x}/`).join(' -> ')}: ${steps.map((s) => `src/${s.file} imports "${s.specifier}"`).join('; ')}`,
          );
        }
      } else if (!state.has(to)) visit(to);
    }
    path.pop();
    state.set(f, 'done');
  };
  for (const f of edges.keys()) if (!state.has(f)) visit(f);
  return out;
}

describe('the bench is layered', () => {
  it('every import of src/ goes to a lower layer, and no folders import each other', () => {
    const folders = ['.', ...readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory())];
    const all = imports();
    expect(all.length).toBeGreaterThan(100);
    expect(layerViolations(all, LAYERS, folders)).toEqual([]);
  });

  it('names an upward import, a same-layer import, a cycle, an unplaced folder and a stale layer entry', () => {
    const imp = (file: string, specifier: string, to: string): Import => ({ file, from: file.split('/', 1)[0]!, specifier, to });
    const found = layerViolations(
      [imp('run/a.ts', '../commands/b', 'commands'), imp('commands/b.ts', '../run/a', 'run'), imp('data/c.ts', '../hub/d', 'hub')],
      [['data', 'hub'], ['run'], ['commands']],
      ['data', 'run', 'commands', 'extra'],
    );
    expect(found).toEqual([
      'src/extra/ is in no layer: add it to LAYERS (and the README)',
      'LAYERS names src/hub/, which does not exist: remove it (and from the README)',
      'src/run/a.ts imports "../commands/b": run/ (layer 1) may import only lower layers, and commands/ is layer 2 (an upward import)',
      'src/data/c.ts imports "../hub/d": data/ (layer 0) may import only lower layers, and hub/ is layer 0 (the same layer)',
      'cycle run/ -> commands/ -> run/: src/run/a.ts imports "../commands/b"; src/commands/b.ts imports "../run/a"',
    ]);
  });
});
