// The up-front checks of an image-folder dataset, on a listing of its files rather than on a file
// system: the bench lists a folder on disk, the browser studio a directory the user dropped, and
// both report the same problems with the same words before any image is decoded.

/** The splits of an image-folder dataset laid out as `{train,val,test}/<class>/*`. */
export const IMAGE_FOLDER_SPLITS = ['train', 'val', 'test'] as const;

/** A split name. */
export type ImageFolderSplit = (typeof IMAGE_FOLDER_SPLITS)[number];

/** The file names read as images (JPEG, PNG). */
export const IMAGE_FILE = /\.(jpe?g|png)$/i;

/** Image formats that are not read: reported rather than silently left out. */
export const OTHER_IMAGE_FILE = /\.(gif|bmp|webp|tiff?|heic|heif|avif|jp2)$/i;

/** One thing wrong with a dataset, found before any training. */
export interface DataProblem {
  /** The file or folder at fault (relative to the dataset folder in a listing's checks, `''` for the folder itself). */
  path: string;
  /** What is wrong and what was expected. */
  problem: string;
}

/** A file of a listing: its name in its folder and its size in bytes. */
export interface ListedFile {
  name: string;
  size: number;
}

/**
 * The class folders of one split (or of a `<class>/*` dataset), by name; `null` for a folder that
 * could not be listed (its problem is the lister's to report).
 */
export type ClassFolders = Record<string, ListedFile[] | null>;

/** One image found by a check: its path relative to the dataset folder and its class index. */
export interface FoundImage {
  relPath: string;
  label: number;
}

/** What a check found: the images it would read and every problem. */
export interface FolderCheck {
  /** Class names; the label is the position. */
  classes: string[];
  problems: DataProblem[];
}

const joinPath = (...parts: string[]) => parts.filter(Boolean).join('/');

/**
 * Checks the class folders of one split: images in formats that are not read, class folders with
 * no image, zero-byte files and, when `counts` is given, per-class counts that differ from it.
 * @param folders - the class folders present
 * @param classes - the class names in label order (folders of other names are the caller's to report)
 * @param prefix - the split's path (`train`), or `''` for a `<class>/*` dataset
 * @param counts - the expected images per class (from a manifest)
 * @param countsFrom - what `counts` come from, as the messages name it
 */
export function checkClassFolders(
  folders: ClassFolders,
  classes: readonly string[],
  prefix = '',
  counts?: Record<string, number>,
  countsFrom = 'manifest.json',
): { images: FoundImage[]; problems: DataProblem[] } {
  const images: FoundImage[] = [];
  const problems: DataProblem[] = [];
  const add = (path: string, problem: string) => problems.push({ path, problem });
  for (const [label, cls] of classes.entries()) {
    const listed = folders[cls];
    if (!listed) continue;
    const dir = joinPath(prefix, cls);
    const byName = [...listed].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const f of byName.filter((f) => OTHER_IMAGE_FILE.test(f.name)))
      add(
        joinPath(dir, f.name),
        `${f.name.slice(f.name.lastIndexOf('.'))} images are not read (expected .jpg, .jpeg or .png); convert or remove the file`,
      );
    const files = byName.filter((f) => IMAGE_FILE.test(f.name));
    if (files.length === 0) add(dir, 'empty class folder (no .jpg, .jpeg or .png images)');
    for (const f of files) {
      if (f.size === 0) add(joinPath(dir, f.name), 'zero-byte file');
      else images.push({ relPath: joinPath(dir, f.name), label });
    }
    const expected = counts?.[cls];
    if (expected !== undefined && expected !== files.length) add(dir, `holds ${files.length} images, ${countsFrom} says ${expected}`);
  }
  return { images, problems };
}

/** Options of {@link checkImageFolder}. */
export interface ImageFolderCheckOptions {
  /** The class names in label order (a manifest's); default: the sorted class folders of `train/`. */
  classes?: readonly string[];
  /** What `classes` and `counts` come from, as the messages name it. Default `manifest.json`. */
  declaredIn?: string;
  /** Expected images per split and class (a manifest's `splits`). */
  counts?: Partial<Record<string, Record<string, number>>>;
  /** The class count the caller expects. */
  expectedClasses?: number;
  /** Where the expected class count comes from, as the message names it. */
  expectedFrom?: string;
}

/** What {@link checkImageFolder} found. */
export interface ImageFolderCheck extends FolderCheck {
  /** The images per split, sorted by path (also when there are problems, so that decoding can be checked in the same pass). */
  splits: Record<ImageFolderSplit, FoundImage[]>;
}

/**
 * Checks the layout of a `{train,val,test}/<class>/*` dataset from a listing and reports every
 * problem at once: missing splits, fewer than two classes, a class count other than expected,
 * classes in val/test that train lacks, class lists that differ between splits, class folders
 * not among the declared classes, and each split's {@link checkClassFolders} problems. Decoding is
 * the caller's: `splits` holds the images even when the layout has problems.
 * @param splits - each split's class folders; absent for a missing split, `null` for one that
 *   could not be listed (reported by the lister)
 * @param options - declared classes and counts, the expected class count
 */
export function checkImageFolder(
  splits: Partial<Record<ImageFolderSplit, ClassFolders | null>>,
  options: ImageFolderCheckOptions = {},
): ImageFolderCheck {
  const problems: DataProblem[] = [];
  const add = (path: string, problem: string) => problems.push({ path, problem });
  const declaredIn = options.declaredIn ?? 'manifest.json';
  const folders: Partial<Record<ImageFolderSplit, string[]>> = {};
  for (const split of IMAGE_FOLDER_SPLITS) {
    const listed = splits[split];
    if (listed === undefined) add(split, `missing split folder "${split}" (expected ${IMAGE_FOLDER_SPLITS.join(', ')})`);
    else if (listed !== null) folders[split] = Object.keys(listed).sort();
  }
  let classes = folders.train ?? [];
  if (options.classes) {
    classes = [...options.classes];
    const extra = (folders.train ?? []).filter((f) => !classes.includes(f));
    if (extra.length) add('train', `class folder(s) ${extra.join(', ')} are not among ${declaredIn}'s classes [${classes.join(', ')}]`);
  }
  if (classes.length < 2) add('train', `holds ${classes.length} class folder(s), expected at least 2`);
  if (options.expectedClasses !== undefined && classes.length !== options.expectedClasses) {
    const from = options.expectedFrom ? ` (${options.expectedFrom})` : '';
    add('', `has ${classes.length} classes [${classes.join(', ')}] but the run expects ${options.expectedClasses}${from}`);
  }
  const found = {} as Record<ImageFolderSplit, FoundImage[]>;
  for (const split of IMAGE_FOLDER_SPLITS) {
    found[split] = [];
    const present = folders[split];
    const listed = splits[split];
    if (!present || !listed) continue;
    // train/'s own extra folders are named above (they can only differ from declared classes).
    for (const f of present.filter((f) => split !== 'train' && !classes.includes(f)))
      add(joinPath(split, f), `class "${f}" is present in ${split}/ but not in train/ (classes: ${classes.join(', ')})`);
    for (const c of classes.filter((c) => !present.includes(c)))
      add(split, `mismatched class lists: ${split}/ has no folder for class "${c}" (train/ classes: ${classes.join(', ')})`);
    const checked = checkClassFolders(listed, classes, split, options.counts?.[split], declaredIn);
    found[split] = checked.images;
    problems.push(...checked.problems);
  }
  return { classes, splits: found, problems };
}
