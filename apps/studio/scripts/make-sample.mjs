// Copies the bundled sample from the repository's embedded kermany-cxr set (CC BY 4.0) into
// public/sample: the first N images of each class of train, val and test (sorted file names), its
// licence notice beside them, and a manifest listing every file with its label and sha256.
// Run: node scripts/make-sample.mjs (the output is committed; rerunning gives the same files).
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, '../../../data/kermany-cxr');
const target = join(here, '../public/sample/kermany-cxr');
const PER_CLASS = { train: 8, val: 4, test: 4 };

const manifest = JSON.parse(readFileSync(join(source, 'manifest.json'), 'utf8'));
rmSync(target, { recursive: true, force: true });
const files = {};
for (const [split, n] of Object.entries(PER_CLASS)) {
  files[split] = [];
  manifest.classes.forEach((cls, label) => {
    const names = Object.keys(manifest.sha256)
      .filter((p) => p.startsWith(`${split}/${cls}/`))
      .sort()
      .slice(0, n);
    for (const path of names) {
      mkdirSync(dirname(join(target, path)), { recursive: true });
      copyFileSync(join(source, path), join(target, path));
      files[split].push({ path, label, sha256: manifest.sha256[path] });
    }
  });
}
copyFileSync(join(source, 'LICENSE.txt'), join(target, 'LICENSE.txt'));
const sample = {
  name: manifest.name,
  task: manifest.task,
  classes: manifest.classes,
  image: manifest.image,
  license: manifest.license,
  citation: manifest.citation,
  derivation: `The first ${PER_CLASS.train} (train), ${PER_CLASS.val} (val) and ${PER_CLASS.test} (test) images per class, by sorted file name, of the repository's data/kermany-cxr (see its manifest.json for how that set was made).`,
  files,
};
writeFileSync(join(target, 'manifest.json'), `${JSON.stringify(sample, null, 2)}\n`);
console.log(`sample: ${files.train.length} train, ${files.val.length} val, ${files.test.length} test images in ${target}`);
