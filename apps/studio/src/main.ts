import * as tf from '@tensorflow/tfjs-core';
import { autoBackend, probeBackends, STUDIO_BACKENDS, useBackend, type StudioBackend } from './backend';
import type { DataProblem } from '@fpt/core';
import { folderData, fromDrop, fromInput, type PickedFolder } from './folder';
import { decodeImages, SPLITS, type DecodedSplit, type Split, type StudioData } from './images';
import { buildMethodForm, DEFAULT_METHOD, methodFromForm, STUDIO_REGISTRY } from './methods';
import { createLpm, describeLpm, LPM_INPUT, lpmFromFiles, RANDOM_LPM, type LpmSource } from './model';
import { plotLine } from './plot';
import { loadSampleManifest, SAMPLE_BASE, sampleData } from './sample';
import { BrowserKvStore } from './kv-store';
import { StudioSession, type Evaluation, type ModelFiles, type PreloadCount } from './session';
import { showConfusion, showProbabilities } from './tables';

// The page: wires the controls to a StudioSession. `?backend=wasm&steps=3` preset the controls
// (the browser tests use them); `window.studio` exposes the state to the tests.

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const backendSelect = $<HTMLSelectElement>('backend');
const methodSelect = $<HTMLSelectElement>('method');
const trainButton = $<HTMLButtonElement>('train');
const exportLinks = $<HTMLParagraphElement>('export');
const status = $<HTMLParagraphElement>('status');
const progress = $<HTMLProgressElement>('progress');
const params = new URLSearchParams(location.search);
/** The side network's resolution (FPT+'s low-resolution input). */
const LR_SIZE = 64;

/** What the page holds, for the browser tests. */
interface StudioState {
  backend?: StudioBackend;
  kernels?: string;
  data?: StudioData;
  decoded: Partial<Record<Split, DecodedSplit>>;
  losses: number[];
  /** The validation AUC during training, about ten times per run. */
  valAucs: number[];
  /** The last evaluation of each split. */
  evaluations: Partial<Record<Split, Evaluation>>;
  /** Where the model on the page came from. */
  model?: 'trained' | 'imported';
  /** The last image classified: its name and class probabilities. */
  classified?: { name: string; probabilities: number[] };
  /** The data's problems, one line each (`<folder>/<path>: <problem>`), from the last folder picked. */
  problems: string[];
  /** The LPM: `random` or the checkpoint's file name. */
  lpm?: string;
  /** The last session's preloads: images whose keys/values came from the browser's store, and computed ones. */
  cache?: PreloadCount;
  /** Live tfjs tensors before the first session was made. */
  tensorsBefore?: number;
  busy: boolean;
  error?: string;
}
const state: StudioState = { decoded: {}, evaluations: {}, losses: [], valAucs: [], problems: [], busy: false };
let session: StudioSession | undefined;
/** The frozen LPM the next session uses. */
let lpm: LpmSource = RANDOM_LPM;
/** The browser's store of preloaded keys/values (undefined when the browser gives no IndexedDB). */
let store: BrowserKvStore | undefined;
/** Reads the method form's values (rebuilt when another method is chosen). */
let readMethodForm: () => Record<string, string> = () => ({});

function setStatus(text: string, isError = false): void {
  status.textContent = text;
  status.classList.toggle('error', isError);
  if (isError) state.error = text;
}

/** Marks the page busy while `work` runs; an error ends up on the page. */
async function busy(work: () => Promise<void>): Promise<void> {
  state.busy = true;
  for (const el of [trainButton, backendSelect, methodSelect]) el.disabled = true;
  try {
    await work();
  } catch (err) {
    setStatus(`Error: ${(err as Error).message ?? String(err)}`, true);
  } finally {
    state.busy = false;
    backendSelect.disabled = false;
    methodSelect.disabled = false;
    trainButton.disabled = !state.decoded.train;
    for (const id of ['classify-file', 'import-files']) $<HTMLInputElement>(id).disabled = !state.decoded.test;
    $<HTMLInputElement>('folder').disabled = false;
    $<HTMLInputElement>('lpm-files').disabled = false;
  }
}

async function chooseBackend(name: StudioBackend): Promise<void> {
  setStatus(`Starting ${name}...`);
  const threads = params.get('threads');
  if (threads !== null && !(Number.isInteger(Number(threads)) && Number(threads) > 0))
    throw new Error(`?threads=${threads}: expected a positive whole number of WASM threads`);
  const kernels = await useBackend(name, threads === null ? undefined : Number(threads));
  state.backend = name;
  state.kernels = kernels;
  $('backend-in-use').textContent = `${name}: ${kernels}`;
  setStatus(state.decoded.train ? 'Ready.' : 'Loading the sample...');
}

/** Shows the data's problems (every one, with its path) or clears them. */
function showProblems(where: string, problems: readonly DataProblem[]): void {
  state.problems = problems.map((p) => `${p.path ? `${where}/${p.path}` : where}: ${p.problem}`);
  const list = $('data-problems');
  list.replaceChildren(
    ...state.problems.map((line) => {
      const li = document.createElement('li');
      li.textContent = line;
      return li;
    }),
  );
  list.hidden = problems.length === 0;
}

/**
 * Decodes every split of `data` in the browser and makes it the page's dataset; false (and the
 * problems listed on the page, the current data kept) when an image cannot be decoded or `found`
 * (the layout's problems) is not empty.
 */
async function useData(data: StudioData, found: readonly DataProblem[] = []): Promise<boolean> {
  const total = SPLITS.reduce((n, s) => n + data.splits[s].length, 0);
  let done = 0;
  const decoded: Partial<Record<Split, DecodedSplit>> = {};
  const problems = [...found];
  for (const split of SPLITS) {
    const before = done;
    const r = await decodeImages(data.splits[split], LPM_INPUT, LR_SIZE, (d) => {
      done = before + d;
      setStatus(`Decoding the images in the browser: ${done} of ${total}`);
      progress.value = done / total;
    });
    decoded[split] = r.decoded;
    problems.push(...r.problems);
  }
  showProblems(data.name, problems);
  if (problems.length) return false;
  session?.close();
  session = undefined;
  exportLinks.hidden = true;
  state.evaluations = {};
  state.data = data;
  state.decoded = decoded;
  return true;
}

/** Checks a picked or dropped folder, decodes it and makes it the page's data; every problem goes on the page. */
async function useFolder(picked: PickedFolder): Promise<void> {
  setStatus(`Checking ${picked.name} (${picked.files.size} files)...`);
  const { data, problems: layout, layout: kind } = await folderData(picked);
  // The images are decoded even when the layout has problems: every problem is listed in one pass.
  const used = await useData(data, layout);
  if (!used) {
    setStatus(`${picked.name}: ${state.problems.length} problem(s), listed below; the data was not changed.`, true);
    return;
  }
  const [train, val, test] = SPLITS.map((s) => data.splits[s].length);
  const how = kind === 'splits' ? 'its train, val and test folders' : 'each class split 70/15/15 into train, val and test';
  $('data-line').textContent =
    `Your folder ${data.name}: ${data.classes.length} classes (${data.classes.join(' / ')}), ${train} training, ${val} validation and ${test} test images (${how}). The files were read here and stay on this machine.`;
  state.error = undefined;
  setStatus('Ready.');
}

async function loadSample(): Promise<void> {
  const manifest = await loadSampleManifest();
  const data = sampleData(manifest);
  if (!(await useData(data))) throw new Error(`the bundled sample has images that cannot be decoded: ${state.problems.join('; ')}`);
  const [train, val, test] = SPLITS.map((s) => data.splits[s].length);
  const line = $('data-line');
  line.textContent = `Bundled sample: ${manifest.name} (${manifest.classes.join(' / ')}), ${train} training, ${val} validation and ${test} test images, ${manifest.license.id} (`;
  const link = document.createElement('a');
  link.href = `${SAMPLE_BASE}${manifest.license.file}`;
  link.textContent = 'licence and attribution';
  line.append(link, `). ${manifest.citation}`);
}

function numberInput(id: string): number {
  const v = Number($<HTMLInputElement>(id).value);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`"${id}" must be a positive number, got "${$<HTMLInputElement>(id).value}"`);
  return v;
}

/** Replaces the page's session (freeing the old one) and loads every split into it, with the preload's progress. */
async function startSession(make: () => StudioSession): Promise<StudioSession> {
  session?.close();
  session = undefined;
  exportLinks.hidden = true;
  if (state.tensorsBefore === undefined) state.tensorsBefore = tf.memory().numTensors;
  const next = make();
  session = next;
  const { learnable, total } = next.counts();
  $('params').textContent =
    `${learnable.toLocaleString('en')} of ${total.toLocaleString('en')} (${((100 * learnable) / total).toFixed(2)} %)`;
  const images = SPLITS.reduce((n, s) => n + (state.decoded[s]?.count ?? 0), 0);
  const started = performance.now();
  let done = 0;
  for (const split of SPLITS) {
    const data = state.decoded[split];
    if (!data) throw new Error(`the ${split} split is not loaded`);
    const before = done;
    await next.load(split, data, 8, (d) => {
      done = before + d;
      const elapsed = (performance.now() - started) / 1000;
      const eta = (elapsed / done) * (images - done);
      const cached = next.preloads.hits ? `, ${next.preloads.hits} from the browser's cache` : '';
      setStatus(`Preloading the LPM's keys and values: ${done} of ${images} images${cached} (ETA ${eta.toFixed(0)} s)`);
      progress.value = done / images;
    });
  }
  state.cache = { ...next.preloads };
  $('cache').textContent = next.model.needsInputs
    ? `${next.preloads.hits} of ${images} images' keys/values from the browser's cache, ${next.preloads.computed} computed${store ? '' : ' (no IndexedDB: not kept)'}`
    : `${next.model.name} needs no preloaded inputs`;
  return next;
}

async function runTraining(): Promise<void> {
  const classes = state.data?.classes;
  if (!classes) throw new Error('the data is not loaded yet');
  const steps = Math.round(numberInput('steps'));
  const options = { batch: Math.round(numberInput('batch')), lr: numberInput('lr'), seed: 0, store, lpm };
  const method = methodFromForm(methodSelect.value, readMethodForm());
  const trained = await startSession(() => StudioSession.create(classes, method, options));
  state.model = 'trained';
  state.losses = [];
  state.valAucs = [];
  // The validation AUC is plotted about ten times per run (every step of a short one).
  const every = Math.max(1, Math.round(steps / 10));
  let peak = 0;
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    const loss = await trained.trainStep();
    const dt = performance.now() - t0;
    state.losses.push(loss);
    // tfjs's live tensor bytes after the step: the preloaded splits, the weights and the optimizer state.
    peak = Math.max(peak, tf.memory().numBytes);
    $('loss').textContent = `${loss.toFixed(4)} (step ${s + 1} of ${steps})`;
    $('step-time').textContent = `${(dt / 1000).toFixed(2)} s`;
    $('memory').textContent = `${(peak / 2 ** 20).toFixed(1)} MiB held in tensors (the most after a step)`;
    plotLine(document.getElementById('loss-plot') as unknown as SVGElement, state.losses);
    if ((s + 1) % every === 0 || s + 1 === steps) {
      const { auc } = await trained.evaluate('val');
      state.valAucs.push(auc);
      $('auc').textContent = `${Number.isNaN(auc) ? 'undefined (a class is missing)' : auc.toFixed(4)} (step ${s + 1})`;
      plotLine(document.getElementById('auc-plot') as unknown as SVGElement, state.valAucs, 'val AUC', 'evaluations');
    }
    setStatus(`Training ${trained.model.name}: step ${s + 1} of ${steps}`);
    progress.value = (s + 1) / steps;
  }
  await evaluateAll(trained);
  await prepareExport(trained);
  setStatus(`Trained ${trained.model.name} ${steps} steps on ${state.backend}; test AUC ${auc(state.evaluations.test)}.`);
}

const auc = (e?: Evaluation) => (!e ? '-' : Number.isNaN(e.auc) ? 'undefined (a class is missing)' : e.auc.toFixed(4));

/** Evaluates the validation and test splits and shows the figures and the test confusion matrix. */
async function evaluateAll(model: StudioSession): Promise<void> {
  setStatus('Evaluating on the validation and test splits...');
  const [val, test] = [await model.evaluate('val'), await model.evaluate('test')];
  state.evaluations = { val, test };
  $('auc').textContent = auc(val);
  $('test-auc').textContent = auc(test);
  $('test-accuracy').textContent = `${(100 * test.accuracy).toFixed(1)} %`;
  showConfusion($('confusion'), model.classes, test.confusion);
}

/** Points the export links at the adapted model's files. */
async function prepareExport(model: StudioSession): Promise<void> {
  const { weights, config } = await model.save();
  const link = (id: string, data: BlobPart, type: string) => {
    const a = $<HTMLAnchorElement>(id);
    if (a.href.startsWith('blob:')) URL.revokeObjectURL(a.href);
    a.href = URL.createObjectURL(new Blob([data], { type }));
  };
  link('download-weights', weights as Uint8Array<ArrayBuffer>, 'application/octet-stream');
  link('download-config', config, 'application/json');
  $<HTMLAnchorElement>('download-weights').download = `${model.model.name}-adapted.safetensors`;
  $<HTMLAnchorElement>('download-config').download = `${model.model.name}-adapted.json`;
  $('download-weights').textContent = `weights (.safetensors, ${weights.byteLength.toLocaleString('en')} bytes)`;
  exportLinks.hidden = false;
}

/** Makes `source` the page's LPM and says so. */
function showLpm(source: LpmSource): void {
  lpm = source;
  state.lpm = source.name;
  $('model-line').textContent = `${describeLpm(source)} FPT+'s side network: width 24 at ${LR_SIZE}x${LR_SIZE}.`;
  $('random-warning').hidden = !!source.checkpoint;
}

/** Loads an LPM checkpoint picked from local files; the sessions after it use it. */
async function loadLpm(files: FileList): Promise<void> {
  const picked = await Promise.all([...files].map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })));
  setStatus(`Reading ${picked.map((f) => f.name).join(' + ')}...`);
  const source = lpmFromFiles(picked);
  // Build it once now, so that a checkpoint that does not load is named before any training.
  createLpm(source).dispose();
  session?.close();
  session = undefined;
  exportLinks.hidden = true;
  showLpm(source);
  setStatus(`Loaded the LPM from ${source.name}.`);
}

/** Reads the picked `.safetensors` and `.json` files (one of each). */
async function modelFiles(files: FileList): Promise<ModelFiles> {
  const list = [...files];
  const weights = list.filter((f) => f.name.endsWith('.safetensors'));
  const configs = list.filter((f) => f.name.endsWith('.json'));
  const [w, c] = [weights[0], configs[0]];
  if (weights.length !== 1 || configs.length !== 1 || list.length !== 2 || !w || !c)
    throw new Error(
      `import: pick the two exported files, one .safetensors and one .json; got ${list.map((f) => f.name).join(', ') || 'nothing'}`,
    );
  return { weights: new Uint8Array(await w.arrayBuffer()), config: await c.text() };
}

async function importModel(files: FileList): Promise<void> {
  const classes = state.data?.classes;
  if (!classes) throw new Error('the data is not loaded yet');
  const picked = await modelFiles(files);
  const options = { batch: Math.round(numberInput('batch')), lr: numberInput('lr'), seed: 0, store, lpm };
  const imported = await startSession(() => StudioSession.import(classes, picked, options));
  state.model = 'imported';
  await evaluateAll(imported);
  await prepareExport(imported);
  setStatus(`Imported ${[...files].map((f) => f.name).join(' + ')}; test AUC ${auc(state.evaluations.test)}.`);
}

async function classifyImage(file: File): Promise<void> {
  if (!session) throw new Error('train or import a model first');
  const image = await decodeImages([{ name: file.name, label: 0, read: async () => file }], LPM_INPUT, LR_SIZE);
  const [problem] = image.problems;
  if (problem) throw new Error(`${problem.path}: ${problem.problem}`);
  const probabilities = Array.from(await session.classify(image.decoded));
  state.classified = { name: file.name, probabilities };
  showProbabilities($('classified'), file.name, session.classes, probabilities);
  setStatus(`Classified ${file.name}.`);
}

async function start(): Promise<void> {
  showLpm(RANDOM_LPM);
  const probes = await probeBackends();
  const list = $('probes');
  for (const p of probes) {
    const item = document.createElement('li');
    item.textContent = `${p.backend}: ${p.available ? p.detail : `unavailable (${p.detail})`}`;
    list.append(item);
    const option = document.createElement('option');
    option.value = p.backend;
    option.textContent = p.backend;
    option.disabled = !p.available;
    backendSelect.append(option);
  }
  const asked = params.get('backend');
  if (asked && !STUDIO_BACKENDS.includes(asked as StudioBackend))
    throw new Error(`?backend=${asked}: expected one of ${STUDIO_BACKENDS.join(', ')}`);
  const chosen = (asked as StudioBackend | null) ?? autoBackend(probes);
  backendSelect.value = chosen;
  backendSelect.addEventListener('change', () => busy(() => chooseBackend(backendSelect.value as StudioBackend)));
  for (const name of STUDIO_REGISTRY.names()) {
    const option = document.createElement('option');
    option.value = name;
    option.textContent = name;
    methodSelect.append(option);
  }
  const showForm = () => {
    readMethodForm = buildMethodForm($('method-options'), methodSelect.value);
  };
  methodSelect.value = params.get('method') ?? DEFAULT_METHOD;
  if (!methodSelect.value) throw new Error(`?method=${params.get('method')}: expected one of ${STUDIO_REGISTRY.names().join(', ')}`);
  methodSelect.addEventListener('change', showForm);
  showForm();
  const steps = params.get('steps');
  if (steps) $<HTMLInputElement>('steps').value = steps;
  trainButton.addEventListener('click', () => busy(runTraining));
  const picked = (id: string, use: (files: FileList) => Promise<void>) => {
    const input = $<HTMLInputElement>(id);
    input.addEventListener('change', () => {
      const files = input.files;
      if (files?.length) void busy(() => use(files)).finally(() => (input.value = ''));
    });
  };
  picked('import-files', importModel);
  picked('lpm-files', loadLpm);
  picked('folder', async (files) => useFolder(fromInput(files)));
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const transfer = e.dataTransfer;
    if (transfer && !state.busy) void busy(async () => useFolder(await fromDrop(transfer)));
  });
  picked('classify-file', async (files) => {
    const [file] = files;
    if (file) await classifyImage(file);
  });
  store = await BrowserKvStore.open();
  $('clear-cache').addEventListener('click', () =>
    busy(async () => {
      await store?.clear();
      $('cache').textContent = 'cleared';
      setStatus("The browser's key/value cache is empty.");
    }),
  );
  await chooseBackend(chosen);
  await loadSample();
  setStatus('Ready.');
}

Object.assign(window, {
  studio: {
    state,
    numTensors: () => tf.memory().numTensors,
    /** Frees the session (the tests check that the tensor count returns to its value before it). */
    close: () => {
      session?.close();
      session = undefined;
    },
  },
});
void busy(start);
