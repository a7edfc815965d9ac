import type { ImageRef, Split, StudioData } from './images';

// The bundled sample: a small subset of the repository's kermany-cxr set, served as the page's own
// static files (public/sample) and fetched from its origin.

/** One image of the sample and its class index. */
export interface SampleFile {
  path: string;
  label: number;
}

/** The sample's manifest (public/sample/<name>/manifest.json). */
export interface SampleManifest {
  name: string;
  classes: string[];
  license: { id: string; url: string; file: string };
  citation: string;
  files: Record<Split, SampleFile[]>;
}

/** Where the bundled sample lives, relative to the page. */
export const SAMPLE_BASE = `${import.meta.env.BASE_URL}sample/kermany-cxr/`;

/** Fetches the sample's manifest. */
export async function loadSampleManifest(): Promise<SampleManifest> {
  const res = await fetch(`${SAMPLE_BASE}manifest.json`);
  if (!res.ok) throw new Error(`sample manifest ${SAMPLE_BASE}manifest.json: HTTP ${res.status}`);
  return (await res.json()) as SampleManifest;
}

/** The sample as the page's dataset; each image is fetched from the page's origin when decoded. */
export function sampleData(manifest: SampleManifest): StudioData {
  const refs = (files: SampleFile[]): ImageRef[] =>
    files.map((f) => ({
      name: f.path,
      label: f.label,
      read: async () => {
        const res = await fetch(`${SAMPLE_BASE}${f.path}`);
        if (!res.ok) throw new Error(`${f.path}: HTTP ${res.status}`);
        return res.blob();
      },
    }));
  const { train, val, test } = manifest.files;
  return { name: manifest.name, classes: manifest.classes, splits: { train: refs(train), val: refs(val), test: refs(test) } };
}
