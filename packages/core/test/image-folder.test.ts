import { describe, expect, it } from 'vitest';
import { checkClassFolders, checkImageFolder, type ClassFolders } from '../src/index';

const files = (...names: string[]) => names.map((name) => ({ name, size: 100 }));
const lines = (problems: { path: string; problem: string }[]) => problems.map((p) => `${p.path}: ${p.problem}`);

describe('checkImageFolder (the listing of a {train,val,test}/<class>/* dataset)', () => {
  it('finds the images of a sound dataset, sorted, labelled by the sorted train/ folders', () => {
    const split = (): ClassFolders => ({ b: files('2.png', '1.jpg'), a: files('x.JPEG', 'notes.txt') });
    const check = checkImageFolder({ train: split(), val: split(), test: split() });
    expect(check.problems).toEqual([]);
    expect(check.classes).toEqual(['a', 'b']);
    expect(check.splits.val).toEqual([
      { relPath: 'val/a/x.JPEG', label: 0 },
      { relPath: 'val/b/1.jpg', label: 1 },
      { relPath: 'val/b/2.png', label: 1 },
    ]);
  });

  it('reports every problem at once, each with its relative path', () => {
    const check = checkImageFolder(
      {
        train: { a: [{ name: 'empty.png', size: 0 }, ...files('ok.png', 'anim.gif')], b: files('1.png'), c: [] },
        val: { a: files('1.png'), b: files('1.png'), c: files('1.png'), d: files('1.png') },
      },
      { expectedClasses: 5, expectedFrom: '--classes' },
    );
    expect(lines(check.problems)).toEqual([
      'test: missing split folder "test" (expected train, val, test)',
      ': has 3 classes [a, b, c] but the run expects 5 (--classes)',
      'train/a/anim.gif: .gif images are not read (expected .jpg, .jpeg or .png); convert or remove the file',
      'train/a/empty.png: zero-byte file',
      'train/c: empty class folder (no .jpg, .jpeg or .png images)',
      'val/d: class "d" is present in val/ but not in train/ (classes: a, b, c)',
    ]);
    // The images are found even so: decoding is checked in the same pass.
    expect(check.splits.train.map((i) => i.relPath)).toEqual(['train/a/ok.png', 'train/b/1.png']);
  });

  it('takes declared classes and counts, and names the class lists that differ', () => {
    const check = checkImageFolder(
      { train: { a: files('1.png'), b: files('1.png'), z: files('1.png') }, val: { a: files('1.png') }, test: null },
      { classes: ['b', 'a'], counts: { train: { a: 2, b: 1 } }, declaredIn: 'the manifest' },
    );
    expect(lines(check.problems)).toEqual([
      "train: class folder(s) z are not among the manifest's classes [b, a]",
      'train/a: holds 1 images, the manifest says 2',
      'val: mismatched class lists: val/ has no folder for class "b" (train/ classes: b, a)',
    ]);
    expect(check.splits.train).toEqual([
      { relPath: 'train/b/1.png', label: 0 },
      { relPath: 'train/a/1.png', label: 1 },
    ]);
  });

  it('checkClassFolders checks a <class>/* dataset with no split prefix', () => {
    const { images, problems } = checkClassFolders({ cat: files('1.png'), dog: [] }, ['cat', 'dog']);
    expect(images).toEqual([{ relPath: 'cat/1.png', label: 0 }]);
    expect(lines(problems)).toEqual(['dog: empty class folder (no .jpg, .jpeg or .png images)']);
  });
});
