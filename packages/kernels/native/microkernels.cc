// The micro-kernels: AVX-512 (14 x 32 tile in 28 zmm accumulators, masked stores at the edges),
// AVX2 + FMA (6 x 16 in 12 ymm accumulators) and portable C++ (6 x 16). The vector ones are
// compiled with __attribute__((target)) so the addon builds and runs on any x86-64 (and any other
// architecture, with the portable kernel alone); the CPU is asked at run time.
#include "microkernels.h"

#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FPT_X86 1
#endif

namespace {

// Writes (or adds) the valid mr x nr part of a tile held in a row-major scratch array of width nrMax.
void storeTile(const float* t, long nrMax, float* c, long ldc, bool acc, long mr, long nr) {
  for (long r = 0; r < mr; r++)
    for (long j = 0; j < nr; j++) c[r * ldc + j] = acc ? c[r * ldc + j] + t[r * nrMax + j] : t[r * nrMax + j];
}

constexpr long GMR = 6, GNR = 16;

void kernelGeneric(long kc, const float* a, const float* b, float* c, long ldc, bool acc, long mr, long nr) {
  float t[GMR * GNR] = {};
  for (long k = 0; k < kc; k++, a += GMR, b += GNR)
    for (long r = 0; r < GMR; r++) {
      const float ar = a[r];
      for (long j = 0; j < GNR; j++) t[r * GNR + j] += ar * b[j];
    }
  storeTile(t, GNR, c, ldc, acc, mr, nr);
}

#ifdef FPT_X86
__attribute__((target("avx2,fma"))) void kernelAvx2(long kc, const float* a, const float* b, float* c, long ldc, bool acc,
                                                     long mr, long nr) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  // The tile of C is read (or written) only after the loop: asking for its lines now hides their
  // latency behind the arithmetic. C is usually far larger than L2, and on a Zen 3 core this took
  // a 1024x768x3072 product from 55 to 74 GFLOP/s on one thread.
  for (long r = 0; r < mr; r++) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + GNR - 1), _MM_HINT_T0);
  }
  // Unrolled by 4: the loop's own instructions otherwise take issue slots from the 12 FMAs of each
  // step (the kernel alone on packed panels in L1/L2: 76 -> 90 GFLOP/s of a 96 GFLOP/s core).
#pragma GCC unroll 4
  for (long k = 0; k < kc; k++, a += GMR, b += GNR) {
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
  const __m256 rows[GMR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (mr == GMR && nr == GNR) {
    for (long r = 0; r < GMR; r++) {
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
  float t[GMR * GNR];
  for (long r = 0; r < GMR; r++) {
    _mm256_storeu_ps(t + r * GNR, rows[r][0]);
    _mm256_storeu_ps(t + r * GNR + 8, rows[r][1]);
  }
  storeTile(t, GNR, c, ldc, acc, mr, nr);
}

// The small-product kernel (see SmallKernelFn): the same 6 x 16 tile, with op(A) broadcast from
// where it lies and B's rows loaded in place. Packing costs as much as the arithmetic when a product
// is small (the attention products of a training step: 16 x 205 x 64, 81 x 81 x 8 per head), and
// a B narrower than 16 columns is loaded with masks instead of zero-padded. MR rows are a template
// parameter so that the accumulators stay in registers.
// One depth step of the small kernel: MR broadcasts of op(A), two B vectors, 2 MR FMAs.
template <int MR>
__attribute__((target("avx2,fma"), always_inline)) inline void smallStep(const float* const* ar, long ak, __m256 b0, __m256 b1,
                                                                          __m256* lo, __m256* hi) {
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++) {
    const __m256 x = _mm256_broadcast_ss(ar[r] + ak);
    lo[r] = _mm256_fmadd_ps(x, b0, lo[r]);
    hi[r] = _mm256_fmadd_ps(x, b1, hi[r]);
  }
}

template <int MR>
__attribute__((target("avx2,fma"))) void smallTileAvx2(long kc, const float* a, long rsA, long csA, const float* b, long ldb,
                                                        float* c, long ldc, long nr) {
  __m256 lo[MR], hi[MR];
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++) lo[r] = hi[r] = _mm256_setzero_ps();
  const float* ar[MR];
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++) ar[r] = a + r * rsA;
  if (nr == GNR) {
    for (long k = 0; k < kc; k++, b += ldb) smallStep<MR>(ar, k * csA, _mm256_loadu_ps(b), _mm256_loadu_ps(b + 8), lo, hi);
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
      _mm256_storeu_ps(c + r * ldc, lo[r]);
      _mm256_storeu_ps(c + r * ldc + 8, hi[r]);
    }
    return;
  }
  // Lane j of the low half is valid when j < nr, of the high half when j + 8 < nr. Masked-off lanes
  // are neither read nor written, so columns past the edge of B and C are never touched.
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(nr)), lane);
  const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(nr) - 8), lane);
  for (long k = 0; k < kc; k++, b += ldb) smallStep<MR>(ar, k * csA, _mm256_maskload_ps(b, m0), _mm256_maskload_ps(b + 8, m1), lo, hi);
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++) {
    _mm256_maskstore_ps(c + r * ldc, m0, lo[r]);
    _mm256_maskstore_ps(c + r * ldc + 8, m1, hi[r]);
  }
}

__attribute__((target("avx2,fma"))) void smallAvx2(long kc, const float* a, long rsA, long csA, const float* b, long ldb,
                                                    float* c, long ldc, long mr, long nr) {
  switch (mr) {
    case 6: return smallTileAvx2<6>(kc, a, rsA, csA, b, ldb, c, ldc, nr);
    case 5: return smallTileAvx2<5>(kc, a, rsA, csA, b, ldb, c, ldc, nr);
    case 4: return smallTileAvx2<4>(kc, a, rsA, csA, b, ldb, c, ldc, nr);
    case 3: return smallTileAvx2<3>(kc, a, rsA, csA, b, ldb, c, ldc, nr);
    case 2: return smallTileAvx2<2>(kc, a, rsA, csA, b, ldb, c, ldc, nr);
    default: return smallTileAvx2<1>(kc, a, rsA, csA, b, ldb, c, ldc, nr);
  }
}

// Eight floats along the depth; MASKED loads only the lanes `mask` selects (the depth's last,
// partial step), the others read as zeros.
template <bool MASKED>
__attribute__((target("avx2,fma"), always_inline)) inline __m256 loadDepth(const float* p, __m256i mask) {
  if constexpr (MASKED)
    return _mm256_maskload_ps(p, mask);
  else
    return _mm256_loadu_ps(p);
}

// One depth step of 8 of the dot kernel: NR vectors of B and MR of A, MR x NR FMAs.
template <int MR, int NR, bool MASKED>
__attribute__((target("avx2,fma"), always_inline)) inline void dotStep(const float* a, long lda, const float* b, long ldb, __m256i mask,
                                                                        __m256 (&acc)[MR][NR]) {
  __m256 bv[NR];
#pragma GCC unroll 3
  for (int j = 0; j < NR; j++) bv[j] = loadDepth<MASKED>(b + j * ldb, mask);
#pragma GCC unroll 4
  for (int r = 0; r < MR; r++) {
    const __m256 av = loadDepth<MASKED>(a + r * lda, mask);
#pragma GCC unroll 3
    for (int j = 0; j < NR; j++) acc[r][j] = _mm256_fmadd_ps(av, bv[j], acc[r][j]);
  }
}

// The dot-product kernel (see DotKernelFn): DOT_MR x DOT_NR = 4 x 3 sums in 12 accumulators, each
// depth step of 8 loading 3 vectors of B and 4 of A for 12 FMAs (16 ymm registers in all). A depth
// that is not a multiple of 8 ends with masked loads, so nothing past a row is read. Attention
// scores of prompts against cached keys (16 x 64 by 205 x 64 per head) had B transposed into a
// copy first, and the copy took 70 % of the product's time.
template <int MR, int NR>
__attribute__((target("avx2,fma"))) void dotTileAvx2(long kc, const float* a, long lda, const float* b, long ldb, float* c, long ldc) {
  __m256 acc[MR][NR];
#pragma GCC unroll 4
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 3
    for (int j = 0; j < NR; j++) acc[r][j] = _mm256_setzero_ps();
  long k = 0;
  for (; k + 8 <= kc; k += 8) dotStep<MR, NR, false>(a + k, lda, b + k, ldb, _mm256_setzero_si256(), acc);
  if (k < kc) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(kc - k)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    dotStep<MR, NR, true>(a + k, lda, b + k, ldb, mask, acc);
  }
  // Each row's NR sums: pairwise horizontal adds leave lane j (and j + 4) holding parts of sum j.
#pragma GCC unroll 4
  for (int r = 0; r < MR; r++) {
    const __m256 zero = _mm256_setzero_ps();
    const __m256 x = _mm256_hadd_ps(acc[r][0], NR > 1 ? acc[r][1] : zero);
    const __m256 y = _mm256_hadd_ps(NR > 2 ? acc[r][2] : zero, zero);
    const __m256 z = _mm256_hadd_ps(x, y);
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(z), _mm256_extractf128_ps(z, 1));
    float out[4];
    _mm_storeu_ps(out, s);
#pragma GCC unroll 3
    for (int j = 0; j < NR; j++) c[r * ldc + j] = out[j];
  }
}

template <int MR>
__attribute__((target("avx2,fma"))) void dotRowsAvx2(long kc, const float* a, long lda, const float* b, long ldb, float* c, long ldc, long nr) {
  switch (nr) {
    case 3: return dotTileAvx2<MR, 3>(kc, a, lda, b, ldb, c, ldc);
    case 2: return dotTileAvx2<MR, 2>(kc, a, lda, b, ldb, c, ldc);
    default: return dotTileAvx2<MR, 1>(kc, a, lda, b, ldb, c, ldc);
  }
}

__attribute__((target("avx2,fma"))) void dotAvx2(long kc, const float* a, long lda, const float* b, long ldb, float* c, long ldc, long mr,
                                                  long nr) {
  switch (mr) {
    case 4: return dotRowsAvx2<4>(kc, a, lda, b, ldb, c, ldc, nr);
    case 3: return dotRowsAvx2<3>(kc, a, lda, b, ldb, c, ldc, nr);
    case 2: return dotRowsAvx2<2>(kc, a, lda, b, ldb, c, ldc, nr);
    default: return dotRowsAvx2<1>(kc, a, lda, b, ldb, c, ldc, nr);
  }
}

constexpr int XMR = 14, XNR = 32;

// 14 x 32: 28 accumulators + 2 B vectors + 1 broadcast = 31 of the 32 zmm registers. Each k step
// loads two B vectors and broadcasts 14 A values for 28 FMAs, which two FMA ports retire in 14
// cycles while the loads need 8. Columns past nr are masked off; rows past mr are never stored
// (the packed A is zero-padded, so computing them is harmless).
__attribute__((target("avx512f"))) void kernelAvx512(long kc, const float* a, const float* b, float* c, long ldc, bool acc,
                                                      long mr, long nr) {
  __m512 c0[XMR], c1[XMR];
#pragma GCC unroll 14
  for (int r = 0; r < XMR; r++) c0[r] = c1[r] = _mm512_setzero_ps();
  for (long k = 0; k < kc; k++, a += XMR, b += XNR) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 14
    for (int r = 0; r < XMR; r++) {
      const __m512 ar = _mm512_set1_ps(a[r]);
      c0[r] = _mm512_fmadd_ps(ar, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(ar, b1, c1[r]);
    }
  }
  const __mmask16 m0 = nr >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : static_cast<__mmask16>((1u << (nr - 16)) - 1);
#pragma GCC unroll 14
  for (int r = 0; r < XMR; r++) {
    if (r >= mr) break;
    float* cr = c + r * ldc;
    __m512 v0 = c0[r], v1 = c1[r];
    if (acc) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cr));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cr + 16));
    }
    _mm512_mask_storeu_ps(cr, m0, v0);
    _mm512_mask_storeu_ps(cr + 16, m1, v1);
  }
}
#endif

// Blocking: a KC x NR panel of B stays in L1 or close to it, an MC x KC block of A in L2. For
// AVX-512, KC 384 (a 48 KiB B panel, streamed from L2 at worst) measured faster than 256 on the
// training shapes here (K 192-1576): fewer passes over C and fewer synchronisations per product.
// For AVX2, KC 512 and MC 192 (K 768 runs as two blocks of 384; a 192 x 512 block of A is 384 KiB, in
// a Zen 3 core's 512 KiB L2) against BLIS's 256 and 144: one pass over C fewer per product, and C
// is usually the operand in main memory. Measured on 2 Zen 3 threads, six alternating rounds of a
// scratch driver over the perf bench's products: the four 1024 x 768 x {768, 3072} products went
// from 174-179 to 180-185 GFLOP/s (of a 205 GFLOP/s peak); 768 x 288 was as fast, 384 x 192 too.
// Only AVX2 has a small-product kernel: it was measured on an AVX2 machine; AVX-512 machines, where
// it could not be measured, keep packing every product.
const MicroKernel GENERIC = {"generic", GMR, GNR, 256, 144, 4096, kernelGeneric, nullptr, nullptr};
#ifdef FPT_X86
const MicroKernel AVX2 = {"avx2-fma", GMR, GNR, 512, 192, 4096, kernelAvx2, smallAvx2, dotAvx2};
const MicroKernel AVX512 = {"avx512", XMR, XNR, 384, 336, 4096, kernelAvx512, nullptr, nullptr};
#endif

struct Supported {
  const MicroKernel* list[3];
  int count = 0;
  Supported() {
#ifdef FPT_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) list[count++] = &AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) list[count++] = &AVX2;
#endif
    list[count++] = &GENERIC;
  }
};

const Supported& supported() {
  static const Supported s;
  return s;
}

}  // namespace

const MicroKernel* const* supportedKernels(int* count) {
  *count = supported().count;
  return supported().list;
}

const MicroKernel* findKernel(const char* name) {
  const Supported& s = supported();
  for (int i = 0; i < s.count; i++)
    if (std::strcmp(s.list[i]->name, name) == 0) return s.list[i];
  return nullptr;
}
