import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { IMAGE_FILE, SPLITS, type DatasetItem, type DatasetManifest, type ImageFolderDataset, type Split } from './image-folder';

/** One thing wrong with a dataset, found before any training. */
export interface DataProblem {
  /** The file or folder at fault. */
  path: string;
  /** What is wrong and what was expected. */
  problem: string;
}

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

/** Image formats the bench does not read: reported rather than silently left out. */
const OTHER_IMAGE_FILE = /\.(gif|bmp|webp|tiff?|heic|heif|avif|jp2)$/i;

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

/**
 * Checks the layout of an ImageFolder dataset `<root>/{train,val,test}/<class>/*` and reports every
 * problem at once (rather than failing on the first): missing splits, empty class folders,
 * zero-byte files, a class in val/test that train lacks, class lists that differ between splits or
 * from `manifest.json`, per-class counts that differ from the manifest, a class count that
 * differs from `expectedClasses`, entries that cannot be read (symbolic link loops, dangling links,
 * unreadable folders, names that are not UTF-8) and images in formats the bench does not read.
 * Decoding is checked later, when the images are loaded: `found` holds the images even when the
 * layout has problems, so that both are reported in one pass.
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
  const folders: Partial<Record<Split, string[]>> = {};
  for (const split of SPLITS) {
    const dir = join(root, split);
    let isDir = false;
    try {
      isDir = statSync(dir).isDirectory();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || existsSync(dir)) {
        add(dir, fsProblem(err));
        continue;
      }
    }
    if (!isDir) {
      add(dir, `missing split folder "${split}" (expected ${SPLITS.join(', ')})`);
      continue;
    }
    const names = listNames(dir, add);
    if (!names) continue;
    folders[split] = names.filter((n) => {
      try {
        return statSync(join(dir, n)).isDirectory();
      } catch (err) {
        add(join(dir, n), fsProblem(err));
        return false;
      }
    });
  }
  let classes: string[] = folders.train ?? [];
  if (manifest?.classes !== undefined) {
    if (!Array.isArray(manifest.classes) || !manifest.classes.every((c) => typeof c === 'string')) {
      add(manifestPath, '"classes" must be a list of class names');
    } else {
      classes = manifest.classes as string[];
      const extra = (folders.train ?? []).filter((f) => !classes.includes(f));
      if (extra.length)
        add(join(root, 'train'), `class folder(s) ${extra.join(', ')} are not among manifest.json's classes [${classes.join(', ')}]`);
    }
  }
  if (classes.length < 2) add(join(root, 'train'), `holds ${classes.length} class folder(s), expected at least 2`);
  if (expectedClasses !== undefined && classes.length !== expectedClasses) {
    add(
      root,
      `has ${classes.length} classes [${classes.join(', ')}] but the run expects ${expectedClasses} (--classes or the dataset preset)`,
    );
  }
  const splits = {} as Record<Split, DatasetItem[]>;
  for (const split of SPLITS) {
    const present = folders[split];
    splits[split] = [];
    if (!present) continue;
    for (const f of present.filter((f) => !classes.includes(f))) {
      add(join(root, split, f), `class "${f}" is present in ${split}/ but not in train/ (classes: ${classes.join(', ')})`);
    }
    for (const c of classes.filter((c) => !present.includes(c))) {
      add(join(root, split), `mismatched class lists: ${split}/ has no folder for class "${c}" (train/ classes: ${classes.join(', ')})`);
    }
    classes.forEach((cls, label) => {
      const dir = join(root, split, cls);
      if (!present.includes(cls)) return;
      const names = listNames(dir, add);
      if (!names) return;
      for (const f of names.filter((n) => OTHER_IMAGE_FILE.test(n)))
        add(join(dir, f), `${f.slice(f.lastIndexOf('.'))} images are not read (expected .jpg, .jpeg or .png); convert or remove the file`);
      const files = names.filter((f) => IMAGE_FILE.test(f));
      if (files.length === 0) add(dir, 'empty class folder (no .jpg, .jpeg or .png images)');
      for (const f of files) {
        const path = join(dir, f);
        let size: number;
        try {
          const st = statSync(path);
          if (!st.isFile()) {
            add(path, 'is not a regular file; expected an image file');
            continue;
          }
          size = st.size;
        } catch (err) {
          add(path, fsProblem(err));
          continue;
        }
        if (size === 0) add(path, 'zero-byte file');
        else splits[split].push({ path, relPath: relative(root, path).split('\\').join('/'), label });
      }
      const expected = manifest?.splits?.[split]?.[cls];
      if (expected !== undefined && expected !== files.length) add(dir, `holds ${files.length} images, manifest.json says ${expected}`);
    });
  }
  const name = root.split(/[\\/]/).filter(Boolean).at(-1)!;
  const found = { name, root, classes, splits };
  if (problems.length) return { problems, found, checksums: manifest?.sha256 };
  return { dataset: found, checksums: manifest?.sha256, problems, found };
}

/** Formats problems as one line each, `path: problem`. */
export function formatProblems(problems: DataProblem[]): string {
  return problems.map((p) => `  ${p.path}: ${p.problem}`).join('\n');
}
