// Runs the example of a README as a test: the ```ts block right after the marker
// `<!-- example: runs as a test -->`. The block is written to a temporary module inside the calling
// package's test folder (so vitest resolves `@fpt/*` to the sources through vitest.shared.ts, and
// bare imports through the package's own node_modules), imported, and deleted afterwards.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { format } from 'node:util';

/** The marker that precedes a README's runnable example. */
export const EXAMPLE_MARKER = '<!-- example: runs as a test -->';

/**
 * The TypeScript source of the README's marked example.
 * @param readmePath - the README.md to read
 * @throws when the README has no marked example, more than one, or the marker is not followed by a
 *   ```ts fence
 */
export function readmeExample(readmePath: string): string {
  const text = readFileSync(readmePath, 'utf8');
  const parts = text.split(EXAMPLE_MARKER);
  if (parts.length !== 2) {
    throw new Error(`${readmePath}: expected exactly one "${EXAMPLE_MARKER}" marker, found ${parts.length - 1}`);
  }
  const [, after = ''] = parts;
  const source = /^\s*```ts\r?\n([\s\S]*?)\r?\n```/.exec(after)?.[1];
  if (source === undefined) throw new Error(`${readmePath}: the "${EXAMPLE_MARKER}" marker must be followed by a \`\`\`ts block`);
  return source;
}

/** What {@link runReadmeExample} observed. */
export interface ExampleRun {
  /** The example module's exports. */
  exports: Record<string, unknown>;
  /** Every `console.log` line the example printed, formatted as Node prints it. */
  printed: string[];
}

/**
 * Runs a README's marked example: writes it to `<testDir>/.readme-example-<random>.ts` (a dot
 * file, so `tsc` runs of the package never see it; gitignored), imports it with `console.log`
 * captured, and removes the file even when the example throws.
 * @param readme - URL or path of the README.md holding the example
 * @param testDir - URL or path of the test folder of the package whose dependencies the example imports
 */
export async function runReadmeExample(readme: URL | string, testDir: URL | string): Promise<ExampleRun> {
  const readmePath = typeof readme === 'string' ? readme : fileURLToPath(readme);
  const source = readmeExample(readmePath);
  const file = join(typeof testDir === 'string' ? testDir : fileURLToPath(testDir), `.readme-example-${randomBytes(6).toString('hex')}.ts`);
  writeFileSync(file, `// Extracted from ${readmePath} by test/readme-example.ts; deleted after the run.\n${source}\n`);
  const printed: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => {
    printed.push(format(...args));
  };
  try {
    const exports = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as Record<string, unknown>;
    return { exports, printed };
  } finally {
    console.log = log;
    rmSync(file, { force: true });
  }
}
