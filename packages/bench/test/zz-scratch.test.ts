import { it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { perfWorkloads, FULL_SCALE } from '../src/perf/workloads';
import { setUpBackend } from '../src/backend/setup';
it('profile', async () => {
  await setUpBackend('wasm', 'auto');
  const id = process.env.W ?? 'W1';
  const w = perfWorkloads(FULL_SCALE).find((x) => x.id === id)!;
  const b = w.build();
  await b.step();
  await b.step();
  const t0 = performance.now();
  await b.step();
  console.log('step ms', (performance.now() - t0).toFixed(1));
  const p = await tf.profile(() => b.step() as unknown as tf.TensorContainer);
  const by = new Map<string, { ms: number; n: number }>();
  let total = 0;
  for (const k of p.kernels) {
    const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
    const e = by.get(key) ?? { ms: 0, n: 0 };
    e.ms += k.kernelTimeMs as number; e.n++; total += k.kernelTimeMs as number;
    by.set(key, e);
  }
  console.log('kernels', p.kernels.length, 'total ms', total.toFixed(1));
  const rows = [...by.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 40);
  for (const [k, v] of rows) console.log(v.ms.toFixed(1).padStart(8), String(v.n).padStart(4), k);
}, 600000);
