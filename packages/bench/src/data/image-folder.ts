import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { IMAGE_FILE, IMAGE_FOLDER_SPLITS, type ImageFolderSplit } from '@fpt/core';

/** The splits of an ImageFolder tree (`@fpt/core`'s, shared with the browser studio). */
export const SPLITS = IMAGE_FOLDER_SPLITS;

/** A split name. */
export type Split = ImageFolderSplit;

/** One image of a dataset. */
export interface DatasetItem {
  /** Absolute path. */
  path: string;
  /** Path relative to the dataset folder (`train/grade0/x.jpg`). */
  relPath: string;
  /** Class index. */
  label: number;
}

/** An ImageFolder dataset: `<root>/<split>/<class>/<file>`. */
export interface ImageFolderDataset {
  /** Folder name or the manifest's `name`. */
  name: string;
  /** The folder. */
  root: string;
  /** Class names; the label is the position (the manifest's order, else alphabetical). */
  classes: string[];
  /** Items per split, sorted by path. */
  splits: Record<Split, DatasetItem[]>;
}

/** Options of {@link openImageFolder}. */
export interface OpenOptions {
  /** Check every file's sha256 against the manifest (when there is one). Default false. */
  verifyChecksums?: boolean;
}

/** The file names an ImageFolder dataset reads as images (JPEG, PNG). */
export { IMAGE_FILE };

/** The fields of a dataset's `manifest.json` the readers use. */
export interface DatasetManifest {
  /** The dataset's name. */
  name?: string;
  /** Class names in label order. */
  classes?: unknown;
  /** Per split, per class, the number of images. */
  splits?: Record<string, Record<string, number>>;
  /** sha256 per path relative to the dataset folder. */
  sha256?: Record<string, string>;
}

/**
 * Opens an ImageFolder dataset. With a `manifest.json` (as the embedded datasets have) its class
 * order defines the labels and its per-split, per-class counts (and, on request, checksums) are
 * checked; without one, classes are the sorted folder names of `train/`, as torchvision's
 * ImageFolder assigns them.
 * @param root - the dataset folder
 * @param options - checksum verification
 * @throws naming the folder or file at fault and what was expected
 */
export function openImageFolder(root: string, options: OpenOptions = {}): ImageFolderDataset {
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new Error(`dataset ${root}: not a folder`);
  const manifestPath = join(root, 'manifest.json');
  let manifest: DatasetManifest | undefined;
  if (existsSync(manifestPath)) {
    try {
      manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as DatasetManifest;
    } catch (err) {
      throw new Error(`${manifestPath}: not valid JSON: ${(err as Error).message}`);
    }
  }
  for (const split of SPLITS) {
    if (!existsSync(join(root, split))) throw new Error(`dataset ${root}: missing split folder "${split}" (expected ${SPLITS.join(', ')})`);
  }
  const folders = (split: Split) =>
    readdirSync(join(root, split), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  let classes: string[];
  if (manifest?.classes !== undefined) {
    if (!Array.isArray(manifest.classes) || !manifest.classes.every((c) => typeof c === 'string') || manifest.classes.length < 2) {
      throw new Error(`${manifestPath}: "classes" must be a list of at least two class names`);
    }
    classes = manifest.classes as string[];
  } else {
    classes = folders('train');
    if (classes.length < 2) throw new Error(`dataset ${root}: train/ holds ${classes.length} class folder(s), expected at least 2`);
  }
  const splits = {} as Record<Split, DatasetItem[]>;
  for (const split of SPLITS) {
    const unknown = folders(split).filter((f) => !classes.includes(f));
    if (unknown.length)
      throw new Error(
        `dataset ${root}: ${split}/ has class folder(s) ${unknown.map((u) => `"${u}"`).join(', ')} not among the classes [${classes.join(', ')}]`,
      );
    const items: DatasetItem[] = [];
    classes.forEach((cls, label) => {
      const dir = join(root, split, cls);
      if (!existsSync(dir)) return;
      for (const f of readdirSync(dir).sort()) {
        if (!IMAGE_FILE.test(f)) continue;
        const path = join(dir, f);
        items.push({ path, relPath: relative(root, path).split('\\').join('/'), label });
      }
    });
    if (items.length === 0) throw new Error(`dataset ${root}: ${split}/ holds no .jpg, .jpeg or .png images`);
    const expected = manifest?.splits?.[split];
    if (expected) {
      for (const [label, cls] of classes.entries()) {
        const found = items.filter((it) => it.label === label).length;
        if ((expected[cls] ?? 0) !== found)
          throw new Error(`dataset ${root}: ${split}/${cls} holds ${found} images, manifest.json says ${expected[cls] ?? 0}`);
      }
    }
    splits[split] = items;
  }
  if (options.verifyChecksums && manifest?.sha256) {
    for (const items of Object.values(splits)) {
      for (const it of items) {
        const want = manifest.sha256[it.relPath];
        if (!want) throw new Error(`${manifestPath}: no sha256 for ${it.relPath}`);
        const got = createHash('sha256').update(readFileSync(it.path)).digest('hex');
        if (got !== want) throw new Error(`${it.path}: sha256 ${got} does not match manifest.json (${want})`);
      }
    }
  }
  return { name: manifest?.name ?? root.split(/[\\/]/).filter(Boolean).at(-1)!, root, classes, splits };
}
