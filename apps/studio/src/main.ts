import * as tf from '@tensorflow/tfjs-core';
import { autoBackend, probeBackends, STUDIO_BACKENDS, useBackend, type StudioBackend } from './backend';
import { STUDIO_LPM } from './model';
import { plotLoss } from './plot';
import { decodeSplit, loadSampleManifest, SAMPLE_BASE, type DecodedSplit, type SampleManifest } from './sample';
import { StudioSession, type Evaluation } from './session';

// The page: wires the controls to a StudioSession. `?backend=wasm&steps=3` preset the controls
// (the browser tests use them); `window.studio` exposes the state to the tests.

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const backendSelect = $<HTMLSelectElement>('backend');
const trainButton = $<HTMLButtonElement>('train');
const exportLinks = $<HTMLParagraphElement>('export');
const status = $<HTMLParagraphElement>('status');
const progress = $<HTMLProgressElement>('progress');
const params = new URLSearchParams(location.search);

/** What the page holds, for the browser tests. */
interface StudioState {
  backend?: StudioBackend;
  kernels?: string;
  manifest?: SampleManifest;
  val?: DecodedSplit;
  losses: number[];
  evaluation?: Evaluation;
  /** Live tfjs tensors before the session was made. */
  tensorsBefore?: number;
  busy: boolean;
  error?: string;
}
const state: StudioState = { losses: [], busy: false };
let session: StudioSession | undefined;
let train: DecodedSplit | undefined;

function setStatus(text: string, isError = false): void {
  status.textContent = text;
  status.classList.toggle('error', isError);
  if (isError) state.error = text;
}

function fail(err: unknown): void {
  setStatus(`Error: ${(err as Error).message ?? String(err)}`, true);
  state.busy = false;
  trainButton.disabled = false;
}

async function chooseBackend(name: StudioBackend): Promise<void> {
  state.busy = true;
  trainButton.disabled = true;
  setStatus(`Starting ${name}...`);
  const kernels = await useBackend(name);
  state.backend = name;
  state.kernels = kernels;
  $('backend-in-use').textContent = `${name}: ${kernels}`;
  state.busy = false;
  trainButton.disabled = !train;
  setStatus(train ? 'Ready to train.' : 'Loading the sample...');
}

async function loadSample(): Promise<void> {
  const manifest = await loadSampleManifest();
  state.manifest = manifest;
  const lrSize = 64;
  const total = manifest.files.train.length + manifest.files.val.length;
  const shown = (done: number) => setStatus(`Decoding the sample in the browser: ${done} of ${total} images`);
  train = await decodeSplit(manifest.files.train, STUDIO_LPM.imageSize, lrSize, shown);
  state.val = await decodeSplit(manifest.files.val, STUDIO_LPM.imageSize, lrSize, (d) => shown(train!.count + d));
  const line = $('data-line');
  line.textContent = `Bundled sample: ${manifest.name} (${manifest.classes.join(' / ')}), ${train.count} training and ${state.val.count} validation images, ${manifest.license.id} (`;
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

async function runTraining(): Promise<void> {
  if (!train || !state.val || !state.manifest) throw new Error('the sample is not loaded yet');
  state.busy = true;
  trainButton.disabled = true;
  exportLinks.hidden = true;
  backendSelect.disabled = true;
  const steps = Math.round(numberInput('steps'));
  const batch = Math.round(numberInput('batch'));
  const lr = numberInput('lr');
  session?.close();
  if (state.tensorsBefore === undefined) state.tensorsBefore = tf.memory().numTensors;
  session = new StudioSession(state.manifest.classes, { batch, lr, seed: 0 });
  const { learnable, total } = session.counts();
  $('params').textContent =
    `${learnable.toLocaleString('en')} of ${total.toLocaleString('en')} (${((100 * learnable) / total).toFixed(2)} %)`;
  const images = train.count + state.val.count;
  const started = performance.now();
  const preloadStatus = (done: number) => {
    const elapsed = (performance.now() - started) / 1000;
    const eta = done > 0 ? (elapsed / done) * (images - done) : 0;
    setStatus(`Preloading the LPM's keys and values: ${done} of ${images} images (ETA ${eta.toFixed(0)} s)`);
    progress.value = done / images;
  };
  await session.load('train', train, 8, preloadStatus);
  await session.load('val', state.val, 8, (d) => preloadStatus(train!.count + d));
  state.losses = [];
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    const loss = await session.trainStep();
    const dt = performance.now() - t0;
    state.losses.push(loss);
    $('loss').textContent = `${loss.toFixed(4)} (step ${s + 1} of ${steps})`;
    $('step-time').textContent = `${(dt / 1000).toFixed(2)} s`;
    plotLoss(document.getElementById('loss-plot') as unknown as SVGElement, state.losses);
    setStatus(`Training FPT+: step ${s + 1} of ${steps}`);
    progress.value = (s + 1) / steps;
  }
  setStatus('Evaluating on the validation split...');
  state.evaluation = await session.evaluate();
  $('auc').textContent = Number.isNaN(state.evaluation.auc) ? 'undefined (a class is missing)' : state.evaluation.auc.toFixed(4);
  $('accuracy').textContent = `${(100 * state.evaluation.accuracy).toFixed(1)} %`;
  await prepareExport(session);
  setStatus(`Trained ${steps} steps on ${state.backend}; validation AUC ${state.evaluation.auc.toFixed(4)}.`);
  state.busy = false;
  trainButton.disabled = false;
  backendSelect.disabled = false;
}

/** Points the export links at the adapted model's files, read once training is done. */
async function prepareExport(trained: StudioSession): Promise<void> {
  const { weights, config } = await trained.save();
  const link = (id: string, data: BlobPart, type: string) => {
    const a = $<HTMLAnchorElement>(id);
    if (a.href.startsWith('blob:')) URL.revokeObjectURL(a.href);
    a.href = URL.createObjectURL(new Blob([data], { type }));
  };
  link('download-weights', weights as Uint8Array<ArrayBuffer>, 'application/octet-stream');
  link('download-config', config, 'application/json');
  $('download-weights').textContent = `weights (.safetensors, ${weights.byteLength.toLocaleString('en')} bytes)`;
  exportLinks.hidden = false;
}

async function start(): Promise<void> {
  $('model-line').textContent =
    `FPT+ on a frozen LPM: ViT, width ${STUDIO_LPM.hiddenSize}, ${STUDIO_LPM.numLayers} layers, ${STUDIO_LPM.numHeads} heads, ` +
    `patch ${STUDIO_LPM.patchSize}, at ${STUDIO_LPM.imageSize}x${STUDIO_LPM.imageSize} (the bench's quick preset); side network width 24 at 64x64.`;
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
  backendSelect.addEventListener('change', () => chooseBackend(backendSelect.value as StudioBackend).catch(fail));
  const steps = params.get('steps');
  if (steps) $<HTMLInputElement>('steps').value = steps;
  trainButton.addEventListener('click', () => runTraining().catch(fail));
  await chooseBackend(chosen);
  await loadSample();
  trainButton.disabled = false;
  setStatus('Ready to train.');
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
start().catch(fail);
