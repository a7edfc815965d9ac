import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { enableFastKernels } from '@fpt/kernels';
await tf.setBackend('wasm');
function time(label, f, reps = 15) {
  for (let i = 0; i < 3; i++) tf.dispose(f());
  const ts = [];
  for (let i = 0; i < reps; i++) { const t0 = performance.now(); const y = f(); const t1 = performance.now(); ts.push(t1 - t0); tf.dispose(y); }
  ts.sort((a, b) => a - b); return ts[reps >> 1].toFixed(3);
}
const big = tf.randomNormal([1576, 192]), big2 = tf.randomNormal([1576, 192]), vec = tf.randomNormal([192]), col = tf.randomNormal([1576, 1]);
const huge = tf.randomNormal([8, 197, 3072]), huge2 = tf.randomNormal([8, 197, 3072]);
for (const mode of ['stock', 'native']) {
  if (mode === 'native') enableFastKernels('wasm');
  console.log(mode, 'add small', time('', () => tf.add(big, big2)), 'bias', time('', () => tf.add(big, vec)), 'col', time('', () => tf.mul(big, col)), 'huge add', time('', () => tf.add(huge, huge2)), 'huge scalar mul', time('', () => tf.mul(huge, 0.5)));
}
