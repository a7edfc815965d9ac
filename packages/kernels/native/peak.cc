// FMA throughput: each thread runs independent accumulator chains (more than latency x ports, so
// the FMA units never wait for a result) for a fixed number of iterations; no memory is touched.
// FLOPs = iterations x chains x lanes x 2. The chains must also fit the vector registers with the
// two constants: AVX2 has 16 ymm registers, and 16 chains there spill to the stack (measured on a
// Zen 3 core: 54 GFLOP/s with 16 chains, 96 with 8-14).
#include "peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FPT_X86 1
#endif

namespace {

// In flight at once: latency 4 x 2 ports = 8 on Sapphire Rapids and Zen 3, 10 on Haswell.
constexpr int CHAINS_AVX512 = 16;  // of 32 zmm registers
constexpr int CHAINS_AVX2 = 12;    // of 16 ymm registers, leaving two for the constants
constexpr int CHAINS_GENERIC = 12;

// Returns a value depending on every chain so the compiler cannot drop the loop.
float fmaGeneric(long iters, float x) {
  constexpr int CHAINS = CHAINS_GENERIC;
  float acc[CHAINS];
  for (int i = 0; i < CHAINS; i++) acc[i] = x + i;
  const float m = 0.999999f, a = 1e-7f;
  for (long it = 0; it < iters; it++)
    for (int i = 0; i < CHAINS; i++) acc[i] = acc[i] * m + a;
  float s = 0;
  for (float v : acc) s += v;
  return s;
}

#ifdef FPT_X86
__attribute__((target("avx2,fma"))) float fmaAvx2(long iters, float x) {
  constexpr int CHAINS = CHAINS_AVX2;
  __m256 acc[CHAINS];
  for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_set1_ps(x + i);
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
  for (long it = 0; it < iters; it++) {
#pragma GCC unroll 16
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
  }
  __m256 s = acc[0];
  for (int i = 1; i < CHAINS; i++) s = _mm256_add_ps(s, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}

__attribute__((target("avx512f"))) float fmaAvx512(long iters, float x) {
  constexpr int CHAINS = CHAINS_AVX512;
  __m512 acc[CHAINS];
  for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps(x + i);
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
  for (long it = 0; it < iters; it++) {
#pragma GCC unroll 16
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
  }
  __m512 s = acc[0];
  for (int i = 1; i < CHAINS; i++) s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}
#endif

struct Loop {
  const char* isa;
  int lanes;
  int chains;
  float (*fn)(long, float);
};

Loop widest() {
#ifdef FPT_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return {"avx512", 16, CHAINS_AVX512, fmaAvx512};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {"avx2-fma", 8, CHAINS_AVX2, fmaAvx2};
#endif
  return {"generic", 1, CHAINS_GENERIC, fmaGeneric};
}

volatile float sink;

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

PeakResult measurePeak(ThreadPool& pool, double seconds, int repeats) {
  const Loop loop = widest();
  const int T = pool.size();
  // Calibrate on one thread (also wakes the core to its full clock), then size the timed run.
  long iters = 1 << 14;
  double t;
  for (;;) {
    const double t0 = now();
    sink = loop.fn(iters, 1.f);
    t = now() - t0;
    if (t > 0.02 || iters > (1L << 40)) break;
    iters *= 4;
  }
  iters = static_cast<long>(iters * (seconds / t));
  if (iters < 1) iters = 1;
  // The best of a few runs: a ceiling, so a run slowed by another process on the machine is dropped.
  double wall = 1e300;
  for (int rep = 0; rep < repeats; rep++) {
    // One task per thread: each waits until all have started, so no thread runs two of them.
    std::atomic<int> started{0};
    const double t0 = now();
    pool.parallelFor(T, [&](long i, int) {
      started.fetch_add(1);
      while (started.load() < T) {
      }
      sink = loop.fn(iters, static_cast<float>(i));
    });
    wall = std::min(wall, now() - t0);
  }
  const double flops = static_cast<double>(iters) * loop.chains * loop.lanes * 2.0 * T;
  return {flops / wall / 1e9, loop.isa, T, wall};
}
