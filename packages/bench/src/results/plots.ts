import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { atomicWriteFile } from '@fpt/core/node';
import type { RunResult } from './schema';
import type { ComparisonTable } from './table';

/** Renders a vega-lite spec to SVG (vega's headless renderer) and PNG (resvg, system fonts). */
export async function renderSpec(spec: TopLevelSpec): Promise<{ svg: string; png: Uint8Array }> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, {
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
    fitTo: { mode: 'zoom', value: 2 },
    background: 'white',
  })
    .render()
    .asPng();
  return { svg, png: new Uint8Array(png) };
}

const lpmNote = (t: ComparisonTable) => (t.pretrained ? 'pretrained LPM' : 'randomly initialised LPM (not comparable with the paper)');

/** The paper's efficiency picture: memory vs mean AUC, marker area by learnable parameters. */
export function efficiencySpec(t: ComparisonTable): TopLevelSpec {
  // Memory and marker size at the same shapes: the paper's when every run took them.
  const paper = t.efficiencyShapes === 'paper';
  const memoryOf = (r: ComparisonTable['rows'][number]) => (paper ? r.paperMemoryMiB : r.memoryMiB);
  const values = t.rows
    .filter((r) => Number.isFinite(memoryOf(r)) && Number.isFinite(r.meanAuc.mean))
    .map((r) => ({
      method: r.label,
      memory: memoryOf(r),
      auc: r.meanAuc.mean,
      learnable: paper ? r.paperLearnable : r.learnable,
      ...(r.meanAucInterval ? { low: r.meanAucInterval.low, high: r.meanAucInterval.high } : {}),
    }));
  const intervals = values.some((v) => 'low' in v);
  const shapes = paper ? 'paper shapes: ViT-B/16 at 512, batch 16' : 'run shapes';
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: `Training memory vs mean test AUC${intervals ? ' (bars: 95 % intervals over seeds)' : ''}`,
      subtitle: `${t.presets.join('+')} preset, ${t.datasets.length} dataset(s), seeds ${t.seeds.join(',')}; ${lpmNote(t)}`,
    },
    width: 560,
    height: 360,
    data: { values },
    // Colour and shape name the method (one merged legend); no text labels, which collide when
    // methods sit close together. With several seeds, a vertical bar spans each mean's 95 % interval:
    // methods whose bars overlap much may differ by chance (the table's note names the pairs).
    layer: [
      ...(intervals
        ? [
            {
              mark: { type: 'rule', strokeWidth: 2, opacity: 0.6 },
              encoding: {
                x: { field: 'memory', type: 'quantitative', scale: { type: 'log' } },
                y: { field: 'low', type: 'quantitative' },
                y2: { field: 'high' },
                color: { field: 'method', type: 'nominal' },
              },
            },
          ]
        : []),
      {
        mark: { type: 'point', filled: true, opacity: 0.8 },
        encoding: {
          x: {
            field: 'memory',
            type: 'quantitative',
            scale: { type: 'log' },
            title: `peak training-step memory (MiB, log scale, ${shapes})`,
          },
          y: { field: 'auc', type: 'quantitative', scale: { zero: false, padding: 16 }, title: 'mean test AUC (%)' },
          size: {
            field: 'learnable',
            type: 'quantitative',
            title: `learnable parameters (${paper ? 'ViT-B/16' : 'run LPM'})`,
            scale: { type: 'sqrt', range: [60, 1600] },
            legend: { titleLimit: 400 },
          },
          color: { field: 'method', type: 'nominal', title: 'method', legend: { labelLimit: 400, symbolSize: 150 } },
          shape: { field: 'method', type: 'nominal', title: 'method' },
        },
      },
    ],
    config: { font: 'DejaVu Sans' },
  } as TopLevelSpec;
}

/** Training curves of one dataset: validation AUC and training loss per epoch, one line per method (mean over seeds). */
export function curvesSpec(results: RunResult[], dataset: string, t: ComparisonTable): TopLevelSpec {
  const values = results
    .filter((r) => r.dataset.name === dataset)
    .flatMap((r) =>
      r.epochs.map((e) => ({
        method: r.method.label,
        epoch: e.epoch + 1,
        seed: r.seed,
        valAuc: 100 * (t.auc.of(e.val) ?? NaN),
        trainLoss: e.trainLoss,
      })),
    );
  // Each seed faintly (one thin line per method and seed), the mean over seeds boldly on top.
  const line = (field: string, title: string) => ({
    width: 520,
    height: 200,
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
      color: { field: 'method', type: 'nominal', title: 'method', legend: { labelLimit: 400 } },
    },
    layer: [
      ...(t.seeds.length > 1
        ? [
            {
              mark: { type: 'line', opacity: 0.3, strokeWidth: 1 },
              encoding: { y: { field, type: 'quantitative', title, scale: { zero: false } }, detail: { field: 'seed', type: 'nominal' } },
            },
          ]
        : []),
      {
        mark: { type: 'line', point: true, strokeWidth: 2.5 },
        encoding: { y: { aggregate: 'mean', field, type: 'quantitative', title, scale: { zero: false } } },
      },
    ],
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: `Training curves: ${dataset}`,
      subtitle: `${t.seeds.length > 1 ? `each seed (faint) and the mean over seeds ${t.seeds.join(',')} (bold)` : `seed ${t.seeds.join(',')}`}; ${lpmNote(t)}`,
    },
    data: { values },
    vconcat: [line('valAuc', `validation AUC (%, ${t.auc.name})`), line('trainLoss', 'training loss (mean per epoch)')],
    config: { font: 'DejaVu Sans' },
  } as TopLevelSpec;
}

/**
 * Writes `efficiency.{svg,png}` and `curves-<dataset>.{svg,png}` into `dir` (atomically).
 * @returns the files written
 */
export async function writePlots(dir: string, results: RunResult[], t: ComparisonTable): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  const put = async (name: string, spec: TopLevelSpec) => {
    const { svg, png } = await renderSpec(spec);
    atomicWriteFile(join(dir, `${name}.svg`), svg);
    atomicWriteFile(join(dir, `${name}.png`), png);
    written.push(join(dir, `${name}.svg`), join(dir, `${name}.png`));
  };
  await put('efficiency', efficiencySpec(t));
  for (const d of t.datasets) await put(`curves-${d}`, curvesSpec(results, d, t));
  return written;
}
