import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { writeSafetensors } from '@fpt/core';
import {
  adapt,
  createVit,
  loadAdapted,
  loadVitWeights,
  toHfNames,
  vitConfig,
  vitConfigFromCheckpoint,
  type VitModel,
} from '@fpt/backbone-vit';
import { lora } from '@fpt/baselines';
import { chromium, type Browser, type Page } from 'playwright-core';
import { preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STUDIO_REGISTRY } from '../src/methods';
import { readSafetensors } from '@fpt/core';
import { createStudioLpm } from '../src/model';

// Real browser tests: Debian's chromium (headless) loads the production build served by
// `vite preview`, trains FPT+ for a few steps on the bundled sample, and exports the model, which
// Node then loads with loadAdapted. They skip only when chromium is not installed.

const APP = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.FPT_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(APP, 'test-artifacts');
const STEPS = 3;
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`browser tests skipped: no chromium at ${CHROMIUM} (apt-get install chromium, or set FPT_CHROMIUM)`);

interface PageEvaluation {
  auc: number;
  accuracy: number;
  confusion: number[][];
  logits: Float32Array;
}

interface PageState {
  backend?: string;
  kernels?: string;
  losses: number[];
  valAucs: number[];
  evaluations: { val?: PageEvaluation; test?: PageEvaluation };
  decoded: { test?: { hr: Float32Array; lr: Float32Array; hrSize: number; lrSize: number; count: number } };
  model?: 'trained' | 'imported';
  classified?: { name: string; probabilities: number[] };
  cache?: { hits: number; computed: number };
  tensorsBefore?: number;
  busy: boolean;
  error?: string;
}

/** The bundled sample's manifest (what the page trains on). */
const SAMPLE_DIR = join(APP, 'public/sample/kermany-cxr');
const SAMPLE = JSON.parse(readFileSync(join(SAMPLE_DIR, 'manifest.json'), 'utf8')) as {
  classes: string[];
  files: Record<'train' | 'val' | 'test', { path: string; label: number }[]>;
};

/** Writes a folder of the sample's training images: `layout(cls, i)` gives each image's path inside it. */
function sampleFolder(perClass: number, layout: (cls: string, i: number) => string): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'studio-folder-')), 'xray');
  for (const [label, cls] of SAMPLE.classes.entries()) {
    const own = SAMPLE.files.train.filter((f) => f.label === label).slice(0, perClass);
    for (const [i, f] of own.entries()) {
      const to = join(dir, layout(cls, i));
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(join(SAMPLE_DIR, f.path), to);
    }
  }
  return dir;
}

/** Waits until the page is idle with data to train on. */
const waitReady = (page: Page) =>
  page.waitForFunction(
    () => !(window as unknown as { studio: { state: PageState } }).studio.state.busy && !!document.querySelector('#train:not([disabled])'),
    undefined,
    { timeout: 120_000 },
  );

/** Waits until the page has evaluated a model on the test split (after training or an import) and is idle, or shows an error. */
const waitEvaluated = (page: Page, model: 'trained' | 'imported' = 'trained') =>
  page.waitForFunction(
    (want) => {
      const st = (window as unknown as { studio: { state: PageState } }).studio.state;
      return (!!st.evaluations.test && st.model === want && !st.busy) || !!st.error;
    },
    model,
    { timeout: 240_000 },
  );

/** Waits until the page is idle. */
const waitIdle = (page: Page) =>
  page.waitForFunction(() => !(window as unknown as { studio: { state: PageState } }).studio.state.busy, undefined, { timeout: 120_000 });

describe.skipIf(!haveChromium)('studio in chromium', () => {
  let server: PreviewServer;
  let browser: Browser;
  let origin: string;

  beforeAll(async () => {
    if (!existsSync(join(APP, 'dist/index.html')))
      throw new Error(`${APP}/dist is not built: run \`pnpm --filter @fpt/studio build\` first`);
    server = await preview({ root: APP, logLevel: 'silent', preview: { port: 0, host: '127.0.0.1', strictPort: false } });
    const local = server.resolvedUrls?.local[0];
    if (!local) throw new Error('vite preview reported no local URL');
    origin = new URL(local).origin;
    const vulkan = process.env.VK_ICD_FILENAMES ?? '/usr/lib/chromium/vk_swiftshader_icd.json';
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--enable-unsafe-webgpu',
        '--enable-unsafe-swiftshader',
        '--use-angle=swiftshader',
        '--enable-features=Vulkan',
      ],
      env: { ...process.env, VK_ICD_FILENAMES: vulkan, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
    });
    mkdirSync(ARTIFACTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.httpServer.close(() => resolve()) : resolve()));
  });

  /** Opens the app with a backend, recording every request and every console error. */
  async function open(
    backend: string,
    method = 'fpt-plus',
    query = '',
    cores?: number,
  ): Promise<{ page: Page; requests: string[]; errors: string[] }> {
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    // tfjs gives the WASM backend at most half the logical cores: a page that reports more lets a 2-core machine test 2 threads.
    if (cores) await page.addInitScript((n) => Object.defineProperty(navigator, 'hardwareConcurrency', { get: () => n }), cores);
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${origin}/?backend=${backend}&steps=${STEPS}&method=${method}${query}`);
    await waitReady(page);
    return { page, requests, errors };
  }

  /** The page's state without its arrays. */
  const state = (page: Page) =>
    page.evaluate(() => {
      const s = (window as unknown as { studio: { state: PageState } }).studio.state;
      return {
        backend: s.backend,
        kernels: s.kernels,
        losses: s.losses,
        valAucs: s.valAucs,
        valAuc: s.evaluations.val?.auc,
        error: s.error,
        auc: s.evaluations.test?.auc,
        accuracy: s.evaluations.test?.accuracy,
        confusion: s.evaluations.test?.confusion,
        model: s.model,
      };
    });

  /**
   * Trains on `backend`, checks the page, exports the model, loads it in Node and compares logits
   * within `tolerance`, then checks requests, console errors and the tensor count.
   */
  async function trainAndCheck(
    backend: string,
    tolerance: number,
    options: {
      roundTrip?: boolean;
      method?: string;
      form?: (page: Page) => Promise<void>;
      lpm?: () => VitModel;
      query?: string;
      cores?: number;
    } = {},
  ): Promise<void> {
    const { roundTrip = false, method = 'fpt-plus' } = options;
    const { page, requests, errors } = await open(backend, method, options.query, options.cores);
    await options.form?.(page);
    await page.click('#train');
    await waitEvaluated(page);
    const s = await state(page);
    expect(s.error).toBeUndefined();
    expect(s.backend).toBe(backend);
    expect(s.losses).toHaveLength(STEPS);
    for (const l of s.losses) expect(Number.isFinite(l) && l > 0).toBe(true);
    expect(await page.textContent('#loss')).toMatch(/^\d+\.\d{4} \(step 3 of 3\)$/);
    expect(await page.textContent('#auc')).toMatch(/^\d\.\d{4}$/);
    expect(await page.textContent('#test-auc')).toMatch(/^\d\.\d{4}$/);
    // Live during training: the validation AUC after every step of a 3-step run (the last is the final one) and the memory.
    expect(s.valAucs).toHaveLength(STEPS);
    expect(s.valAucs.at(-1)).toBe(s.valAuc);
    expect(await page.locator('#auc-plot polyline').count()).toBe(1);
    expect(await page.textContent('#memory')).toMatch(/^\d+\.\d MiB held in tensors \(the most after a step\)$/);
    expect(await page.textContent('#test-accuracy')).toMatch(/^\d+\.\d %$/);
    expect(s.auc).toBeGreaterThanOrEqual(0);
    expect(s.auc).toBeLessThanOrEqual(1);
    // The confusion matrix counts every test image once, by its true class, and agrees with the accuracy.
    const perClass = [0, 1].map((k) => SAMPLE.files.test.filter((f) => f.label === k).length);
    expect(s.confusion?.map((row) => row.reduce((a, b) => a + b, 0))).toEqual(perClass);
    const correct = (s.confusion ?? []).reduce((a, row, k) => a + (row[k] ?? 0), 0);
    expect(s.accuracy).toBeCloseTo(correct / SAMPLE.files.test.length, 12);
    expect(await page.locator('#confusion td').allTextContents()).toEqual((s.confusion ?? []).flat().map(String));
    await page.screenshot({ path: join(ARTIFACTS, `studio-${backend}-${method}.png`), fullPage: true });

    // Export: both files arrive as downloads.
    const files = new Map<string, Uint8Array>();
    for (const link of ['#download-weights', '#download-config']) {
      const [d] = await Promise.all([page.waitForEvent('download'), page.click(link)]);
      files.set(d.suggestedFilename(), readFileSync((await d.path())!));
    }
    const weights = files.get(`${method}-adapted.safetensors`);
    const config = files.get(`${method}-adapted.json`);
    expect(weights && config).toBeTruthy();

    // Node: the same random LPM, the exported adapter, the page's own test inputs (the LPM's
    // decode for the key/value preload, the model's own (FPT+: the side network's low resolution).
    const inputs = await page.evaluate(() => {
      const { decoded, evaluations } = (window as unknown as { studio: { state: PageState } }).studio.state;
      const test = decoded.test!;
      return { ...test, hr: Array.from(test.hr), lr: Array.from(test.lr), logits: Array.from(evaluations.test!.logits) };
    });
    await tf.setBackend('cpu');
    const lpm = (options.lpm ?? createStudioLpm)();
    const model = loadAdapted(lpm, weights!, new TextDecoder().decode(config), STUDIO_REGISTRY);
    const hr = tf.tensor4d(inputs.hr, [inputs.count, 3, inputs.hrSize, inputs.hrSize]);
    const lr = tf.tensor4d(inputs.lr, [inputs.count, 3, inputs.lrSize, inputs.lrSize]);
    const extras = model.prepare(hr);
    const logits = model.forward({ pixels: model.imageSize === inputs.lrSize ? lr : hr, extras });
    const nodeLogits = await logits.data();
    tf.dispose([hr, lr, logits, ...Object.values(extras)]);
    model.dispose();
    lpm.dispose();
    expect(nodeLogits.length).toBe(inputs.logits.length);
    const maxDiff = Math.max(...inputs.logits.map((v, i) => Math.abs(v - (nodeLogits[i] ?? Number.NaN))));
    console.log(
      `studio ${method} on ${backend}: losses ${s.losses.map((l) => l.toFixed(4)).join(' ')}, AUC ${s.auc}, max |logit(page) - logit(Node cpu)| ${maxDiff.toExponential(2)}`,
    );
    expect(maxDiff).toBeLessThan(tolerance);

    if (roundTrip) {
      // Classify a test image from a file: its probabilities are the softmax of its row of the test logits.
      const [first] = SAMPLE.files.test;
      await page.setInputFiles('#classify-file', join(APP, 'public/sample/kermany-cxr', first!.path));
      await page.waitForFunction(() => !!(window as unknown as { studio: { state: PageState } }).studio.state.classified);
      const classified = await page.evaluate(() => (window as unknown as { studio: { state: PageState } }).studio.state.classified!);
      const row = inputs.logits.slice(0, 2);
      const softmax = row.map((v) => Math.exp(v) / row.reduce((a, b) => a + Math.exp(b), 0));
      for (const [k, p] of classified.probabilities.entries()) expect(p).toBeCloseTo(softmax[k]!, 5);
      expect(await page.locator('#classified li').allTextContents()).toHaveLength(2);

      // Import the exported files back: a fresh session on them gives the trained model's test logits.
      await page.setInputFiles('#import-files', [
        { name: `${method}-adapted.safetensors`, mimeType: 'application/octet-stream', buffer: Buffer.from(weights!) },
        { name: `${method}-adapted.json`, mimeType: 'application/json', buffer: Buffer.from(config!) },
      ]);
      await waitEvaluated(page, 'imported');
      const imported = await page.evaluate(() => {
        const st = (window as unknown as { studio: { state: PageState } }).studio.state;
        return { error: st.error, cache: st.cache, logits: Array.from(st.evaluations.test!.logits) };
      });
      expect(imported.error).toBeUndefined();
      // The imported model's LPM is the trained one's: its keys/values all come from the browser's cache.
      const total = SAMPLE.files.train.length + SAMPLE.files.val.length + SAMPLE.files.test.length;
      expect(imported.cache).toEqual({ hits: total, computed: 0 });
      const importDiff = Math.max(...imported.logits.map((v, i) => Math.abs(v - (inputs.logits[i] ?? Number.NaN))));
      console.log(`studio on ${backend}: imported model, max |logit(imported) - logit(trained)| ${importDiff.toExponential(2)}`);
      expect(importDiff).toBeLessThan(1e-6);

      // A wrong pick is named on the page.
      await page.setInputFiles('#import-files', [{ name: 'x.json', mimeType: 'application/json', buffer: Buffer.from('{}') }]);
      await expect
        .poll(() => page.textContent('#status'))
        .toMatch(/pick the two exported files, one \.safetensors and one \.json; got x\.json/);
      await page.evaluate(() => {
        (window as unknown as { studio: { state: PageState } }).studio.state.error = undefined;
      });
    }

    // Privacy and hygiene.
    for (const url of requests) expect(url.startsWith(`${origin}/`) || url.startsWith('blob:') || url.startsWith('data:'), url).toBe(true);
    expect(errors).toEqual([]);
    const after = await page.evaluate(() => {
      const studio = (window as unknown as { studio: { close(): void; numTensors(): number; state: PageState } }).studio;
      studio.close();
      return { now: studio.numTensors(), before: studio.state.tensorsBefore };
    });
    expect(after.now).toBe(after.before);
    await page.context().close();
  }

  it('checks a picked folder as the bench does, every problem named on the page, and trains on a good one (<class>/*, split 70/15/15)', async () => {
    const { page, requests, errors } = await open('wasm');
    // {train,val,test}/<class>/* with no test/, a class val/ has and train/ lacks, a zero-byte image,
    // a GIF and a file that is no image: one pass names them all; the sample stays the data.
    const bad = sampleFolder(2, (cls, i) => `${i === 0 ? 'train' : 'val'}/${cls}/${i}.jpeg`);
    writeFileSync(join(bad, 'train/normal/empty.png'), '');
    writeFileSync(join(bad, 'train/normal/anim.gif'), 'GIF89a');
    writeFileSync(join(bad, 'train/pneumonia/broken.jpg'), 'not a jpeg');
    mkdirSync(join(bad, 'val/extra'));
    copyFileSync(join(bad, 'val/normal/1.jpeg'), join(bad, 'val/extra/x.jpeg'));
    await page.setInputFiles('#folder', bad);
    await waitIdle(page);
    const problems = await page.locator('#data-problems li').allTextContents();
    expect(problems).toEqual([
      'xray/test: missing split folder "test" (expected train, val, test)',
      'xray/train/normal/anim.gif: .gif images are not read (expected .jpg, .jpeg or .png); convert or remove the file',
      'xray/train/normal/empty.png: zero-byte file',
      'xray/val/extra: class "extra" is present in val/ but not in train/ (classes: normal, pneumonia)',
      expect.stringMatching(/^xray\/train\/pneumonia\/broken\.jpg: the browser cannot decode this image \(.+\)$/),
    ]);
    expect(await page.textContent('#status')).toBe('xray: 5 problem(s), listed below; the data was not changed.');
    expect(await page.textContent('#data-line')).toMatch(/^Bundled sample/);

    // <class>/*: 6 images per class become 4 train, 1 val, 1 test each; training and the test split run on them.
    const good = sampleFolder(6, (cls, i) => `${cls}/${i}.jpeg`);
    await page.evaluate(() => {
      (window as unknown as { studio: { state: PageState } }).studio.state.error = undefined;
    });
    await page.setInputFiles('#folder', good);
    await waitIdle(page);
    expect(await page.locator('#data-problems li').count()).toBe(0);
    expect(await page.textContent('#data-line')).toMatch(
      /^Your folder xray: 2 classes \(normal \/ pneumonia\), 8 training, 2 validation and 2 test images \(each class split 70\/15\/15/,
    );
    await page.fill('#steps', '2');
    await page.click('#train');
    await waitEvaluated(page);
    const s = await state(page);
    expect(s.error).toBeUndefined();
    expect(s.losses).toHaveLength(2);
    expect(s.confusion?.map((row) => row.reduce((a, b) => a + b, 0))).toEqual([1, 1]);
    for (const url of requests) expect(url.startsWith(`${origin}/`) || url.startsWith('blob:') || url.startsWith('data:'), url).toBe(true);
    expect(errors).toEqual([]);
    rmSync(dirname(bad), { recursive: true });
    rmSync(dirname(good), { recursive: true });
    await page.context().close();
  });

  it("keeps the LPM's keys/values in the browser (IndexedDB): an import reuses them, a reload does not recompute them", async () => {
    const total = SAMPLE.files.train.length + SAMPLE.files.val.length + SAMPLE.files.test.length;
    const { page, requests, errors } = await open('wasm');
    const trainAndRead = async () => {
      await page.click('#train');
      await waitEvaluated(page);
      return page.evaluate(() => {
        const st = (window as unknown as { studio: { state: PageState } }).studio.state;
        return { error: st.error, cache: st.cache, logits: Array.from(st.evaluations.test!.logits), losses: st.losses };
      });
    };
    const first = await trainAndRead();
    expect(first.error).toBeUndefined();
    expect(first.cache).toEqual({ hits: 0, computed: total });
    await page.reload();
    await waitReady(page);
    const again = await trainAndRead();
    expect(again.cache).toEqual({ hits: total, computed: 0 });
    expect(await page.textContent('#cache')).toBe(`${total} of ${total} images' keys/values from the browser's cache, 0 computed`);
    // The cached keys/values give the same training and the same test logits.
    expect(again.losses).toEqual(first.losses);
    expect(again.logits).toEqual(first.logits);
    // Forgetting empties it: the next session computes everything again.
    await page.click('#clear-cache');
    await expect.poll(() => page.textContent('#cache')).toBe('cleared');
    expect((await trainAndRead()).cache).toEqual({ hits: 0, computed: total });
    for (const url of requests) expect(url.startsWith(`${origin}/`) || url.startsWith('blob:') || url.startsWith('data:'), url).toBe(true);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('loads an LPM checkpoint from local files (HF naming, config.json), trains FPT+ on it, and Node gets the same logits on the same checkpoint', () => {
    // A small HF-named ViT laid out for 128x128 (the page runs it at 96x96) and its config.json.
    const cfg = vitConfig(
      { hiddenSize: 96, numLayers: 2, numHeads: 3, mlpDim: 192, patchSize: 16, imageSize: 128, numClasses: 0 },
      {
        layerNormEps: 1e-12,
        posEmbedResample: 'hf',
      },
    );
    const source = createVit(cfg, { seed: 7 });
    const hf = toHfNames(source.state());
    const checkpoint = writeSafetensors(
      Object.fromEntries(
        Object.entries(hf).map(([k, t]) => [k, { dtype: 'float32' as const, shape: t.shape, data: t.dataSync() as Float32Array }]),
      ),
    );
    tf.dispose(Object.values(hf));
    source.dispose();
    const configJson = JSON.stringify({ model_type: 'vit', num_attention_heads: 3, layer_norm_eps: 1e-12 });
    const nodeLpm = () => {
      const file = readSafetensors(checkpoint, 'tiny-vit.safetensors');
      const vit = createVit(vitConfigFromCheckpoint(file, 'tiny-vit.safetensors', { num_attention_heads: 3 }), { init: 'zeros' });
      loadVitWeights(vit, file, { naming: 'auto' });
      return vit;
    };
    return trainAndCheck('wasm', 1e-4, {
      lpm: nodeLpm,
      form: async (page) => {
        // A file that is no ViT checkpoint is named, and the LPM stays the random one.
        const notVit = writeSafetensors({ x: { dtype: 'float32', shape: [2], data: new Float32Array(2) } });
        await page.setInputFiles('#lpm-files', [
          { name: 'adapter.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from(notVit) },
        ]);
        await expect
          .poll(() => page.textContent('#status'))
          .toBe('Error: adapter.safetensors: no "patch_embed.proj.weight" tensor; not a ViT checkpoint (timm naming)');
        await page.evaluate(() => {
          (window as unknown as { studio: { state: PageState } }).studio.state.error = undefined;
        });
        await page.setInputFiles('#lpm-files', [
          { name: 'tiny-vit.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from(checkpoint) },
          { name: 'config.json', mimeType: 'application/json', buffer: Buffer.from(configJson) },
        ]);
        await expect.poll(() => page.textContent('#status')).toBe('Loaded the LPM from tiny-vit.safetensors.');
        expect(await page.textContent('#model-line')).toMatch(
          /^The LPM from tiny-vit\.safetensors \(hf naming; heads and epsilon from config\.json\): ViT, width 96, 2 layers, 3 heads, patch 16, laid out for 128x128, run at 96x96\./,
        );
        expect(await page.isHidden('#random-warning')).toBe(true);
      },
    });
  });

  it('trains FPT+ on WASM, shows loss, AUC and the test confusion matrix, exports a model Node loads with the same logits, classifies an image, imports the model back', () =>
    trainAndCheck('wasm', 1e-4, { roundTrip: true }));

  it('trains another method of the registry (LoRA) with its options from the form generated from its config', () =>
    trainAndCheck('wasm', 1e-4, {
      method: 'lora',
      form: async (page) => {
        // The form holds every option of LoRA's config as --set writes it.
        const options = await page
          .locator('#method-options input')
          .evaluateAll((inputs) => Object.fromEntries(inputs.map((i) => [(i as HTMLInputElement).name, (i as HTMLInputElement).value])));
        expect(options).toEqual({ rank: '16', alpha: '16', dropout: '0', targets: 'attn.qkv', qkvSlices: 'q,v', seed: '0' });
        // A bad value is named as the CLI names it, and nothing trains.
        await page.fill('#method-options input[name="rank"]', 'four');
        await page.click('#train');
        await expect.poll(() => page.textContent('#status')).toBe('Error: lora: option "rank" expects a decimal number, got "four"');
        await page.evaluate(() => {
          (window as unknown as { studio: { state: PageState } }).studio.state.error = undefined;
        });
        // Rank 4 on q and v: the page's learnable count is LoRA's at rank 4 (Node, the same LPM).
        await page.fill('#method-options input[name="rank"]', '4');
        const lpm = createStudioLpm();
        const expected = adapt(lpm, [lora({ rank: 4 })], { numClasses: 2 });
        const { learnable } = expected.counts();
        expected.dispose();
        lpm.dispose();
        await page.click('#train');
        await expect
          .poll(() => page.textContent('#params'), { timeout: 60_000 })
          .toMatch(new RegExp(`^${learnable.toLocaleString('en')} of `));
        await waitIdle(page);
        // trainAndCheck clicks Train again: the same method and options, trained afresh.
      },
    }));

  // COOP/COEP make the preview page cross-origin isolated: the threaded WASM build starts its
  // workers (from the unminified glue, see src/backend.ts) and trains to Node's logits.
  it('trains FPT+ on threaded WASM (2 threads) on the cross-origin isolated page', () =>
    trainAndCheck('wasm', 1e-4, {
      query: '&threads=2',
      cores: 4,
      form: async (page) => {
        expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
        expect(await page.textContent('#backend-in-use')).toMatch(/^wasm: .*; 2 thread\(s\)$/);
        expect(await page.textContent('#probes')).toContain('threads (the page is cross-origin isolated)');
      },
    }));

  // SwiftShader's Vulkan driver (from Debian's chromium) gives the headless browser its WebGPU adapter.
  it('trains FPT+ on WebGPU (SwiftShader here) the same way', () => trainAndCheck('webgpu', 1e-3));

  // WebGL 2 on SwiftShader's GL (ANGLE): the last resort of the automatic choice.
  it('trains FPT+ on WebGL the same way', () => trainAndCheck('webgl', 1e-3));
});
