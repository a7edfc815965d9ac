import { readFileSync } from 'node:fs';

/**
 * Reads and parses a JSON file; every failure is one sentence naming the file (a truncated run
 * file, `state.json`, a `config.json` beside `--weights`), never a bare `SyntaxError`.
 * @param path - the file
 * @param what - what the file should be, for the message (`a run result`)
 * @throws naming the file, what it should be and why it could not be read
 */
export function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read ${what}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message}); expected ${what}`);
  }
}
