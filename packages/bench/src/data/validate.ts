import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { checkImageFolder, OTHER_IMAGE_FILE, type ClassFolders, type DataProblem, type ListedFile } from '@fpt/core';
import { IMAGE_FILE, SPLITS, type DatasetItem, type DatasetManifest, type ImageFolderDataset, type Split } from './image-folder';

export type { DataProblem };

/** What {@link scanDataset} found: the dataset when its layout is sound, and every problem. */
export interface ScanResult {
  /** The dataset (absent when a problem makes its layout unusable). */
  dataset?: ImageFolderDataset;
  /** The sha256 per relative path from `manifest.json`, when it has them. */
  checksums?: Record<string, string>;
  /** Every problem found (empty when the dataset is usable). */
  problems: DataProblem[];
  /**
   * The images found even when the layout has problems, so that they are decoded and checked in
   * the same pass (every problem of every kind is reported at once, not in rounds).
   */
  found?: ImageFolderDataset;
}

/** A file-system error as a problem: what the entry is and what was expected. */
function fsProblem(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ELOOP') return 'symbolic link loop (ELOOP); expected a file or folder';
  if (e.code === 'ENOENT') return 'dangling symbolic link (ENOENT: its target does not exist)';
  if (e.code === 'EACCES' || e.code === 'EPERM') return `cannot be read: permission denied (${e.code})`;
  return `cannot be read: ${e.message}`;
}

/** Folder entries as names, reporting names that are not valid UTF-8 (they cannot be opened by name reliably). */
function listNames(dir: string, add: (path: string, problem: string) => void): string[] | undefined {
  let raw: Buffer[];
  try {
    raw = readdirSync(dir, { encoding: 'buffer' });
  } catch (err) {
    add(dir, fsProblem(err));
    return undefined;
  }
  const names: string[] = [];
  for (const b of raw) {
    const name = b.toString('utf8');
    if (Buffer.from(name, 'utf8').equals(b)) names.push(name);
    else add(join(dir, name), `file name is not valid UTF-8 (bytes ${b.toString('hex')}); rename it`);
  }
  return names.sort();
}

/** A class folder's image files as a listing, with their sizes; entries that cannot be read are reported. */
function listFiles(dir: string, add: (path: string, problem: string) => void): ListedFile[] | null {
  const names = listNames(dir, add);
  if (!names) return null;
  const files: ListedFile[] = [];
  for (const name of names) {
    // Other formats are reported by name; names of neither kind are not images and are left alone.
    if (OTHER_IMAGE_FILE.test(name)) files.push({ name, size: 0 });
    if (!IMAGE_FILE.test(name)) continue;
    const path = join(dir, name);
    try {
      const st = statSync(path);
      if (st.isFile()) files.push({ name, size: st.size });
      else add(path, 'is not a regular file; expected an image file');
    } catch (err) {
      add(path, fsProblem(err));
    }
  }
  return files;
}

/** A split folder as a listing of its class folders; `null` when it cannot be listed (reported), undefined when absent. */
function listSplit(dir: string, add: (path: string, problem: string) => void): ClassFolders | null | undefined {
  try {
    if (!statSync(dir).isDirectory()) return undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !existsSync(dir)) return undefined;
    add(dir, fsProblem(err));
    return null;
  }
  const names = listNames(dir, add);
  if (!names) return null;
  const folders: ClassFolders = {};
  for (const n of names) {
    try {
      if (statSync(join(dir, n)).isDirectory()) folders[n] = listFiles(join(dir, n), add);
    } catch (err) {
      add(join(dir, n), fsProblem(err));
    }
  }
  return folders;
}

/**
 * Checks the layout of an ImageFolder dataset `<root>/{train,val,test}/<class>/*` and reports every
 * problem at once (rather than failing on the first): the checks of `checkImageFolder` from
 * `@fpt/core` (missing splits, empty class folders, zero-byte files, a class in val/test that train
 * lacks, class lists that differ between splits or from `manifest.json`, per-class counts that
 * differ from the manifest, a class count that differs from `expectedClasses`, images in formats
 * the bench does not read), on the folder's listing, plus what only a file system has: entries
 * that cannot be read (symbolic link loops, dangling links, unreadable folders, names that are not
 * UTF-8). Decoding is checked later, when the images are loaded: `found` holds the images even
 * when the layout has problems, so that both are reported in one pass.
 * @param root - the dataset folder
 * @param expectedClasses - the class count the run expects (from `--classes` or the preset)
 */
export function scanDataset(root: string, expectedClasses?: number): ScanResult {
  const problems: DataProblem[] = [];
  const add = (path: string, problem: string) => problems.push({ path, problem });
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    add(root, 'dataset folder not found (expected <data-root>/<dataset>/{train,val,test}/<class>/*.jpg|png)');
    return { problems };
  }
  const manifestPath = join(root, 'manifest.json');
  let manifest: DatasetManifest | undefined;
  if (existsSync(manifestPath)) {
    try {
      manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as DatasetManifest;
    } catch (err) {
      add(manifestPath, `not valid JSON: ${(err as Error).message}`);
    }
  }
  let classes: string[] | undefined;
  if (manifest?.classes !== undefined) {
    if (!Array.isArray(manifest.classes) || !manifest.classes.every((c) => typeof c === 'string'))
      add(manifestPath, '"classes" must be a list of class names');
    else classes = manifest.classes as string[];
  }
  const listing = Object.fromEntries(SPLITS.map((split) => [split, listSplit(join(root, split), add)]));
  const check = checkImageFolder(listing, {
    classes,
    counts: manifest?.splits,
    expectedClasses,
    expectedFrom: '--classes or the dataset preset',
  });
  // The check names paths relative to the dataset folder.
  for (const p of check.problems) add(p.path ? join(root, ...p.path.split('/')) : root, p.problem);
  const splits = {} as Record<Split, DatasetItem[]>;
  for (const split of SPLITS)
    splits[split] = check.splits[split].map(({ relPath, label }) => ({ path: join(root, ...relPath.split('/')), relPath, label }));
  const name = root.split(/[\\/]/).filter(Boolean).at(-1)!;
  const found = { name, root, classes: check.classes, splits };
  if (problems.length) return { problems, found, checksums: manifest?.sha256 };
  return { dataset: found, checksums: manifest?.sha256, problems, found };
}

/** Formats problems as one line each, `path: problem`. */
export function formatProblems(problems: DataProblem[]): string {
  return problems.map((p) => `  ${p.path}: ${p.problem}`).join('\n');
}
