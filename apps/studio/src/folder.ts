import {
  checkClassFolders,
  checkImageFolder,
  IMAGE_FILE,
  IMAGE_FOLDER_SPLITS,
  OTHER_IMAGE_FILE,
  Rng,
  type ClassFolders,
  type DataProblem,
  type FoundImage,
} from '@fpt/core';
import type { ImageRef, Split, StudioData } from './images';

// The user's own images: a folder picked (directory upload) or dropped on the page, laid out as
// `{train,val,test}/<class>/*` or `<class>/*`. The files are read where they are; the layout is
// checked by @fpt/core's checkImageFolder, the same checks and words as the bench's.

/** A picked or dropped folder: its name, its files by path inside it, and its folders (a drop lists empty ones too). */
export interface PickedFolder {
  name: string;
  files: Map<string, File>;
  folders: Set<string>;
}

/** A folder from a directory `<input webkitdirectory>`: each file's `webkitRelativePath` is `<folder>/<path>`. */
export function fromInput(list: FileList): PickedFolder {
  const files = new Map<string, File>();
  let name = '';
  for (const file of list) {
    const rel = file.webkitRelativePath || file.name;
    const slash = rel.indexOf('/');
    name ||= slash > 0 ? rel.slice(0, slash) : 'picked files';
    files.set(slash > 0 ? rel.slice(slash + 1) : rel, file);
  }
  return { name, files, folders: new Set() };
}

/** A dropped folder, walked through the drag-and-drop entry API (which lists empty folders too). */
export async function fromDrop(transfer: DataTransfer): Promise<PickedFolder> {
  const roots = [...transfer.items].map((item) => item.webkitGetAsEntry()).filter((e): e is FileSystemEntry => !!e);
  const [root] = roots;
  if (roots.length !== 1 || !root?.isDirectory) throw new Error('drop one folder (laid out as {train,val,test}/<class>/* or <class>/*)');
  const picked: PickedFolder = { name: root.name, files: new Map(), folders: new Set() };
  const walk = async (dir: FileSystemDirectoryEntry, prefix: string): Promise<void> => {
    const reader = dir.createReader();
    // readEntries gives the entries in batches until an empty one.
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) return;
      for (const entry of batch) {
        const path = `${prefix}${entry.name}`;
        if (entry.isDirectory) {
          picked.folders.add(path);
          await walk(entry as FileSystemDirectoryEntry, `${path}/`);
        } else {
          const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
          picked.files.set(path, file);
        }
      }
    }
  };
  await walk(root as FileSystemDirectoryEntry, '');
  return picked;
}

/** The manifest fields the bench reads too: class order and per-split, per-class counts. */
interface FolderManifest {
  classes?: unknown;
  splits?: Record<string, Record<string, number>>;
}

/** Fractions of a `<class>/*` folder's images that go to val and to test (the rest trains). */
const HELD_OUT = 0.15;

/** A picked folder's dataset and every problem its layout has (paths inside the folder). */
export interface FolderData {
  /** The images found, also when there are problems (so that decoding is checked in the same pass); use it only when there are none. */
  data: StudioData;
  problems: DataProblem[];
  /** How the folder was laid out. */
  layout: 'splits' | 'classes';
}

/** Folder -> class -> files listing of the paths under `prefix` (`train/` or `''`); images elsewhere are problems. */
function listing(picked: PickedFolder, depth: 2 | 3): { tree: Map<string, ClassFolders>; misplaced: DataProblem[] } {
  const tree = new Map<string, ClassFolders>();
  const misplaced: DataProblem[] = [];
  const folderOf = (parts: string[]) => {
    const top = depth === 3 ? (parts[0] ?? '') : '';
    const cls = parts[depth - 2] ?? '';
    const classes = tree.get(top) ?? {};
    tree.set(top, classes);
    classes[cls] ??= [];
    return classes[cls];
  };
  for (const dir of picked.folders) {
    const parts = dir.split('/');
    if (parts.length === depth - 1) folderOf(parts);
    else if (depth === 3 && parts.length === 1) tree.set(parts[0] ?? '', tree.get(parts[0] ?? '') ?? {});
  }
  for (const [path, file] of picked.files) {
    const parts = path.split('/');
    const image = IMAGE_FILE.test(path) || OTHER_IMAGE_FILE.test(path);
    if (parts.length === depth) folderOf(parts).push({ name: parts[depth - 1] ?? '', size: file.size });
    else if (image && path !== 'manifest.json')
      misplaced.push({
        path,
        problem: `not in a class folder (expected ${depth === 3 ? '{train,val,test}/<class>/<image>' : '<class>/<image>'})`,
      });
  }
  return { tree, misplaced };
}

/** Reads `manifest.json` at the folder's top, when there is one. */
async function readManifest(picked: PickedFolder, problems: DataProblem[]): Promise<FolderManifest | undefined> {
  const file = picked.files.get('manifest.json');
  if (!file) return undefined;
  try {
    const manifest = JSON.parse(await file.text()) as FolderManifest;
    if (manifest.classes !== undefined && !(Array.isArray(manifest.classes) && manifest.classes.every((c) => typeof c === 'string'))) {
      problems.push({ path: 'manifest.json', problem: '"classes" must be a list of class names' });
      return { splits: manifest.splits };
    }
    return manifest;
  } catch (err) {
    problems.push({ path: 'manifest.json', problem: `not valid JSON: ${(err as Error).message}` });
    return undefined;
  }
}

/** Splits each class's images into train, val and test (15 % each held out, at least one), in a seeded order. */
function splitByClass(
  images: FoundImage[],
  classes: readonly string[],
  seed: number,
  problems: DataProblem[],
): Record<Split, FoundImage[]> {
  const rng = new Rng(seed);
  const out: Record<Split, FoundImage[]> = { train: [], val: [], test: [] };
  for (const [label, cls] of classes.entries()) {
    const own = images.filter((i) => i.label === label);
    if (own.length === 0) continue; // an empty class folder, already reported
    if (own.length < 3) {
      problems.push({
        path: cls,
        problem: `holds ${own.length} image(s); a <class>/* folder is split into train, val and test, which needs at least 3`,
      });
      continue;
    }
    for (let i = own.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [own[i], own[j]] = [own[j]!, own[i]!]; // i and j are below own.length
    }
    const held = Math.max(1, Math.round(HELD_OUT * own.length));
    out.val.push(...own.slice(0, held));
    out.test.push(...own.slice(held, 2 * held));
    out.train.push(...own.slice(2 * held));
  }
  return out;
}

/**
 * Checks a picked folder and makes it the page's dataset: `{train,val,test}/<class>/*` as it is,
 * `<class>/*` split 70/15/15 per class (seeded). An optional `manifest.json` at the top gives the
 * class order and counts, as for the bench. Decoding is the caller's: the images are returned
 * even when the layout has problems, so that every problem is reported in one pass.
 * @param seed - the seed of the `<class>/*` split
 */
export async function folderData(picked: PickedFolder, seed = 0): Promise<FolderData> {
  const problems: DataProblem[] = [];
  const tops = new Set([...picked.files.keys(), ...picked.folders].map((p) => p.split('/')[0] ?? ''));
  const layout = [...tops].some((t) => (IMAGE_FOLDER_SPLITS as readonly string[]).includes(t)) ? 'splits' : 'classes';
  const manifest = await readManifest(picked, problems);
  const declared = Array.isArray(manifest?.classes) ? (manifest.classes as string[]) : undefined;
  let classes: string[];
  let splits: Record<Split, FoundImage[]>;
  if (layout === 'splits') {
    const { tree, misplaced } = listing(picked, 3);
    problems.push(...misplaced);
    for (const top of tree.keys())
      if (!(IMAGE_FOLDER_SPLITS as readonly string[]).includes(top))
        problems.push({ path: top, problem: `not a split folder (expected ${IMAGE_FOLDER_SPLITS.join(', ')} beside it)` });
    const check = checkImageFolder(Object.fromEntries(IMAGE_FOLDER_SPLITS.map((s) => [s, tree.get(s)]).filter(([, v]) => v)), {
      classes: declared,
      counts: manifest?.splits,
    });
    problems.push(...check.problems);
    classes = check.classes;
    splits = check.splits;
  } else {
    const { tree, misplaced } = listing(picked, 2);
    problems.push(...misplaced);
    const folders = tree.get('') ?? {};
    classes = declared ?? Object.keys(folders).sort();
    for (const extra of Object.keys(folders).filter((f) => !classes.includes(f)))
      problems.push({ path: extra, problem: `class folder not among manifest.json's classes [${classes.join(', ')}]` });
    if (classes.length < 2)
      problems.push({ path: '', problem: `holds ${classes.length} class folder(s), expected at least 2 (or train, val and test folders)` });
    const check = checkClassFolders(folders, classes);
    problems.push(...check.problems);
    splits = splitByClass(check.images, classes, seed, problems);
  }
  const ref = ({ relPath, label }: FoundImage): ImageRef => {
    const file = picked.files.get(relPath);
    if (!file) throw new Error(`${relPath}: listed but not picked`);
    return { name: relPath, label, read: async () => file };
  };
  const data: StudioData = {
    name: picked.name,
    classes,
    splits: { train: splits.train.map(ref), val: splits.val.map(ref), test: splits.test.map(ref) },
  };
  return { data, problems, layout };
}
