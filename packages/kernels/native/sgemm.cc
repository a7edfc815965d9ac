// A BLIS-style blocked SGEMM: op(B) is packed in KC x 16 column panels, op(A) in 6 x KC row
// panels, and a 6 x 16 register-blocked micro-kernel (AVX2 + FMA when the CPU has them, chosen at
// run time; a portable C++ kernel otherwise) accumulates each C tile.
#include "sgemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FPT_X86 1
#endif

namespace {

constexpr long MR = 6;
constexpr long NR = 16;
constexpr long KC = 256;
constexpr long NC = 4096;
constexpr long MC_MAX = 144;

using Kernel = void (*)(long kc, const float* a, const float* b, float* c, long ldc, bool acc, long mr, long nr);

void storeTile(const float (&t)[MR][NR], float* c, long ldc, bool acc, long mr, long nr) {
  for (long r = 0; r < mr; r++)
    for (long j = 0; j < nr; j++) c[r * ldc + j] = acc ? c[r * ldc + j] + t[r][j] : t[r][j];
}

void kernelGeneric(long kc, const float* a, const float* b, float* c, long ldc, bool acc, long mr, long nr) {
  float t[MR][NR] = {};
  for (long k = 0; k < kc; k++, a += MR, b += NR)
    for (long r = 0; r < MR; r++) {
      const float ar = a[r];
      for (long j = 0; j < NR; j++) t[r][j] += ar * b[j];
    }
  storeTile(t, c, ldc, acc, mr, nr);
}

#ifdef FPT_X86
__attribute__((target("avx2,fma"))) void kernelAvx2(long kc, const float* a, const float* b, float* c, long ldc,
                                                     bool acc, long mr, long nr) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (long k = 0; k < kc; k++, a += MR, b += NR) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    __m256 ar = _mm256_broadcast_ss(a);
    c00 = _mm256_fmadd_ps(ar, b0, c00); c01 = _mm256_fmadd_ps(ar, b1, c01);
    ar = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(ar, b0, c10); c11 = _mm256_fmadd_ps(ar, b1, c11);
    ar = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(ar, b0, c20); c21 = _mm256_fmadd_ps(ar, b1, c21);
    ar = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(ar, b0, c30); c31 = _mm256_fmadd_ps(ar, b1, c31);
    ar = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(ar, b0, c40); c41 = _mm256_fmadd_ps(ar, b1, c41);
    ar = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(ar, b0, c50); c51 = _mm256_fmadd_ps(ar, b1, c51);
  }
  const __m256 rows[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (mr == MR && nr == NR) {
    for (long r = 0; r < MR; r++) {
      float* cr = c + r * ldc;
      __m256 v0 = rows[r][0], v1 = rows[r][1];
      if (acc) {
        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(cr));
        v1 = _mm256_add_ps(v1, _mm256_loadu_ps(cr + 8));
      }
      _mm256_storeu_ps(cr, v0);
      _mm256_storeu_ps(cr + 8, v1);
    }
    return;
  }
  float t[MR][NR];
  for (long r = 0; r < MR; r++) {
    _mm256_storeu_ps(t[r], rows[r][0]);
    _mm256_storeu_ps(t[r] + 8, rows[r][1]);
  }
  storeTile(t, c, ldc, acc, mr, nr);
}
#endif

Kernel pickKernel() {
#ifdef FPT_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return kernelAvx2;
#endif
  return kernelGeneric;
}

const Kernel kernel = pickKernel();

// op(A) rows [i0, i0 + mc), depth [p0, p0 + kc) -> panels of MR rows, k-major, zero-padded.
void packA(const float* A, long rs, long cs, long i0, long mc, long p0, long kc, float* dst) {
  for (long ip = 0; ip < mc; ip += MR) {
    const long mr = std::min(MR, mc - ip);
    const float* src = A + (i0 + ip) * rs + p0 * cs;
    if (rs == 1 && mr == MR) {
      for (long k = 0; k < kc; k++, dst += MR) std::memcpy(dst, src + k * cs, MR * sizeof(float));
      continue;
    }
    for (long k = 0; k < kc; k++, dst += MR) {
      long r = 0;
      for (; r < mr; r++) dst[r] = src[r * rs + k * cs];
      for (; r < MR; r++) dst[r] = 0.f;
    }
  }
}

// Column panel q (NR columns from j0) of op(B), depth [p0, p0 + kc) -> k-major, zero-padded.
void packBPanel(const float* B, long rs, long cs, long j0, long nr, long p0, long kc, float* dst) {
  const float* src = B + p0 * rs + j0 * cs;
  if (cs == 1 && nr == NR) {
    for (long k = 0; k < kc; k++) std::memcpy(dst + k * NR, src + k * rs, NR * sizeof(float));
    return;
  }
  if (nr < NR)
    for (long k = 0; k < kc; k++) std::fill(dst + k * NR + nr, dst + (k + 1) * NR, 0.f);
  // Column by column: contiguous reads when B is transposed (rs == 1).
  for (long j = 0; j < nr; j++)
    for (long k = 0; k < kc; k++) dst[k * NR + j] = src[k * rs + j * cs];
}

float* scratch(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

thread_local std::vector<float> tlsA, tlsB;

// C[i0:i0+mc, j0:j0+nc] (+)= Ap * Bp for packed blocks; Bp starts at column panel of j0.
void macroKernel(long mc, long nc, long kc, const float* Ap, const float* Bp, float* C, long ldc, bool acc) {
  for (long jr = 0; jr < nc; jr += NR) {
    const long nr = std::min(NR, nc - jr);
    const float* bp = Bp + (jr / NR) * kc * NR;
    for (long ir = 0; ir < mc; ir += MR) {
      kernel(kc, Ap + (ir / MR) * kc * MR, bp, C + ir * ldc + jr, ldc, acc, std::min(MR, mc - ir), nr);
    }
  }
}

// One GEMM on the calling thread alone.
void gemmSerial(const float* A, const float* B, float* C, const GemmShape& s) {
  const long mcMax = std::min(MC_MAX, ((s.M + MR - 1) / MR) * MR);
  for (long jc = 0; jc < s.N; jc += NC) {
    const long nc = std::min(NC, s.N - jc);
    const long panels = (nc + NR - 1) / NR;
    for (long pc = 0; pc < s.K; pc += KC) {
      const long kc = std::min(KC, s.K - pc);
      float* Bp = scratch(tlsB, panels * kc * NR);
      for (long q = 0; q < panels; q++)
        packBPanel(B, s.rsB, s.csB, jc + q * NR, std::min(NR, nc - q * NR), pc, kc, Bp + q * kc * NR);
      float* Ap = scratch(tlsA, mcMax * kc);
      for (long ic = 0; ic < s.M; ic += mcMax) {
        const long mc = std::min(mcMax, s.M - ic);
        packA(A, s.rsA, s.csA, ic, mc, pc, kc, Ap);
        macroKernel(mc, nc, kc, Ap, Bp, C + ic * s.ldc + jc, s.ldc, pc > 0);
      }
    }
  }
}

// One GEMM spread over the pool: op(B) blocks are packed once and shared, row blocks (and, when
// there are few, column ranges) are the tasks.
void gemmParallel(const float* A, const float* B, float* C, const GemmShape& s, ThreadPool& pool) {
  const long T = pool.size();
  // Row blocks: a multiple of T when M allows, each at most MC_MAX rows and a multiple of MR.
  long blocks = std::max(1L, (s.M + MC_MAX - 1) / MC_MAX);
  blocks = ((blocks + T - 1) / T) * T;
  long mc = (s.M + blocks - 1) / blocks;
  mc = std::max(MR, ((mc + MR - 1) / MR) * MR);
  const long rowBlocks = (s.M + mc - 1) / mc;
  static std::vector<float> shared;
  for (long jc = 0; jc < s.N; jc += NC) {
    const long nc = std::min(NC, s.N - jc);
    const long panels = (nc + NR - 1) / NR;
    const long colSplits = std::min(panels, rowBlocks >= 2 * T ? 1L : (2 * T + rowBlocks - 1) / rowBlocks);
    const long panelsPerSplit = (panels + colSplits - 1) / colSplits;
    for (long pc = 0; pc < s.K; pc += KC) {
      const long kc = std::min(KC, s.K - pc);
      float* Bp = scratch(shared, panels * kc * NR);
      pool.parallelFor(panels, [&](long q, int) {
        packBPanel(B, s.rsB, s.csB, jc + q * NR, std::min(NR, nc - q * NR), pc, kc, Bp + q * kc * NR);
      });
      pool.parallelFor(rowBlocks * colSplits, [&](long task, int) {
        const long ic = (task / colSplits) * mc;
        const long q0 = (task % colSplits) * panelsPerSplit;
        if (q0 >= panels) return;
        const long m = std::min(mc, s.M - ic);
        const long n = std::min(panelsPerSplit * NR, nc - q0 * NR);
        float* Ap = scratch(tlsA, mc * kc);
        packA(A, s.rsA, s.csA, ic, m, pc, kc, Ap);
        macroKernel(m, n, kc, Ap, Bp + q0 * kc * NR, C + ic * s.ldc + jc + q0 * NR, s.ldc, pc > 0);
      });
    }
  }
}

}  // namespace

const char* sgemmIsa() {
#ifdef FPT_X86
  if (kernel == kernelAvx2) return "avx2-fma";
#endif
  return "generic";
}

void sgemmBatch(long batch, const float* A, const long* aOff, const float* B, const long* bOff, float* C,
                const long* cOff, const GemmShape& s, ThreadPool& pool) {
  if (s.M <= 0 || s.N <= 0 || batch <= 0) return;
  if (s.K <= 0) {
    for (long b = 0; b < batch; b++)
      for (long i = 0; i < s.M; i++) std::fill(C + cOff[b] + i * s.ldc, C + cOff[b] + i * s.ldc + s.N, 0.f);
    return;
  }
  const long T = pool.size();
  const double flops = 2.0 * s.M * s.N * s.K;
  // Tiny products are not worth waking the workers for.
  if (T == 1 || flops * batch < 2e5) {
    for (long b = 0; b < batch; b++) gemmSerial(A + aOff[b], B + bOff[b], C + cOff[b], s);
    return;
  }
  // Many matrices: one per task. Few large ones: each spread over every thread.
  if (batch >= 2 * T || (batch >= T && batch % T == 0) || flops < 4e6) {
    pool.parallelFor(batch, [&](long b, int) { gemmSerial(A + aOff[b], B + bOff[b], C + cOff[b], s); });
    return;
  }
  for (long b = 0; b < batch; b++) gemmParallel(A + aOff[b], B + bOff[b], C + cOff[b], s, pool);
}
