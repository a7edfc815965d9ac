import { loadNative } from '@fpt/kernels';
const a = loadNative().addon;
function time(label, M, N, K, tA, tB, reps = 25) {
  const A = new Float32Array(M * K).map(() => Math.random()), B = new Float32Array(K * N).map(() => Math.random()), C = new Float32Array(M * N);
  const off = new Float64Array([0, 0, 0]);
  for (let i = 0; i < 3; i++) a.batchMatMul(A, B, C, off, M, N, K, tA, tB);
  const ts = [];
  for (let i = 0; i < reps; i++) { const t0 = performance.now(); a.batchMatMul(A, B, C, off, M, N, K, tA, tB); ts.push(performance.now() - t0); }
  ts.sort((x, y) => x - y); const m = ts[reps >> 1];
  console.log(label.padEnd(34), m.toFixed(3), 'ms', (2 * M * N * K / m / 1e6).toFixed(1), 'GFLOP/s');
}
time('fwd NT 1576x576x192', 1576, 576, 192, false, true);
time('fwd NN 1576x576x192', 1576, 576, 192, false, false);
time('dW TN 576x192x1576', 576, 192, 1576, true, false);
time('fc2 NT 1576x192x768', 1576, 192, 768, false, true);
time('big NT 1024x3072x768', 1024, 3072, 768, false, true);
time('big NN 1024x3072x768', 1024, 3072, 768, false, false);
a.setThreads(1);
time('1T fwd NT 1576x576x192', 1576, 576, 192, false, true);
time('1T big NN 1024x3072x768', 1024, 3072, 768, false, false);
console.log(a.peak(0.1, 3));
