import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { enableFastKernels } from '@fpt/kernels';
await tf.setBackend('wasm');
enableFastKernels('wasm');
function time(label, f, flops, reps = 15) {
  for (let i = 0; i < 3; i++) tf.dispose(f());
  const ts = [];
  for (let i = 0; i < reps; i++) { const t0 = performance.now(); const y = f(); const t1 = performance.now(); ts.push(t1 - t0); tf.dispose(y); }
  ts.sort((a, b) => a - b); const m = ts[reps >> 1];
  console.log(label.padEnd(40), m.toFixed(3), 'ms', (flops / m / 1e6).toFixed(1) + ' GFLOP/s');
}
const M = 1576;
for (const [K, N] of [[192, 576], [192, 192], [192, 768], [768, 192]]) {
  const x = tf.randomNormal([M, K]), w = tf.randomNormal([N, K]), dy = tf.randomNormal([M, N]);
  time(`fwd NT [${M},${K}]x[${N},${K}]^T`, () => tf.matMul(x, w, false, true), 2 * M * K * N);
  time(`dx NN [${M},${N}]x[${N},${K}]`, () => tf.matMul(dy, w), 2 * M * K * N);
  time(`dW TN [${M},${N}]^Tx[${M},${K}]`, () => tf.matMul(dy, x, true, false), 2 * M * K * N);
}
const q = tf.randomNormal([24, 197, 64]), s = tf.randomNormal([24, 197, 197]);
time('QK^T [24,197,64]x[..]^T', () => tf.matMul(q, q, false, true), 2 * 24 * 197 * 197 * 64);
time('PV [24,197,197]x[24,197,64]', () => tf.matMul(s, q), 2 * 24 * 197 * 197 * 64);
time('dP = dO V^T', () => tf.matMul(q, q, false, true), 2 * 24 * 197 * 197 * 64);
time('dV = P^T dO', () => tf.matMul(s, q, true, false), 2 * 24 * 197 * 197 * 64);
time('dQ = dS K', () => tf.matMul(s, q), 2 * 24 * 197 * 197 * 64);
