// A BLIS-style blocked SGEMM: op(B) is packed in KC x NR column panels, op(A) in MR x KC row
// panels, and a register-blocked micro-kernel (microkernels.cc: AVX-512, AVX2 + FMA or portable,
// chosen at run time) accumulates each MR x NR tile of C. Tile shape and blocking come from the
// micro-kernel in use.
#include "sgemm.h"

#include "elementwise.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

// The widest the CPU supports until sgemmSetIsa says otherwise (@fpt/kernels applies FPT_KERNELS_ISA).
const MicroKernel* widest() {
  int n;
  return supportedKernels(&n)[0];
}

const MicroKernel* active = widest();

// One MR-row panel of op(A), depth kc, k-major, zero-padded past mr rows. MR is a template
// parameter so that each k step's copy is a fixed-size one the compiler unrolls (a memcpy call of
// 56 bytes per k step cost as much as the arithmetic in products with a long K).
template <long MR>
void packAPanel(const float* src, long rs, long cs, long mr, long kc, float* dst) {
  if (mr == MR && rs == 1) {
    for (long k = 0; k < kc; k++, dst += MR)
      for (long r = 0; r < MR; r++) dst[r] = src[k * cs + r];
    return;
  }
  if (mr == MR) {
    // k outer, rows inner: contiguous writes, MR sequential read streams (cs == 1 when A is not transposed).
    for (long k = 0; k < kc; k++, dst += MR)
      for (long r = 0; r < MR; r++) dst[r] = src[r * rs + k * cs];
    return;
  }
  for (long k = 0; k < kc; k++, dst += MR) {
    long r = 0;
    for (; r < mr; r++) dst[r] = src[r * rs + k * cs];
    for (; r < MR; r++) dst[r] = 0.f;
  }
}

void packAPanelAny(long MR, const float* src, long rs, long cs, long mr, long kc, float* dst) {
  for (long k = 0; k < kc; k++, dst += MR) {
    long r = 0;
    for (; r < mr; r++) dst[r] = src[r * rs + k * cs];
    for (; r < MR; r++) dst[r] = 0.f;
  }
}

// op(A) rows [i0, i0 + mc), depth [p0, p0 + kc) -> panels of MR rows, k-major, zero-padded.
void packA(const MicroKernel& uk, const float* A, long rs, long cs, long i0, long mc, long p0, long kc, float* dst) {
  const long MR = uk.mr;
  for (long ip = 0; ip < mc; ip += MR, dst += kc * MR) {
    const long mr = std::min(MR, mc - ip);
    const float* src = A + (i0 + ip) * rs + p0 * cs;
    if (MR == 14)
      packAPanel<14>(src, rs, cs, mr, kc, dst);
    else if (MR == 6)
      packAPanel<6>(src, rs, cs, mr, kc, dst);
    else
      packAPanelAny(MR, src, rs, cs, mr, kc, dst);
  }
}

// Column panel (nr columns from j0) of op(B), depth [p0, p0 + kc) -> k-major, zero-padded.
void packBPanel(const MicroKernel& uk, const float* B, long rs, long cs, long j0, long nr, long p0, long kc, float* dst) {
  const long NR = uk.nr;
  const float* src = B + p0 * rs + j0 * cs;
  if (cs == 1 && nr == NR) {
    for (long k = 0; k < kc; k++) std::memcpy(dst + k * NR, src + k * rs, NR * sizeof(float));
    return;
  }
  if (nr < NR)
    for (long k = 0; k < kc; k++) std::fill(dst + k * NR + nr, dst + (k + 1) * NR, 0.f);
  if (rs == 1) {
    // B transposed: each column is contiguous in k. Transposed in blocks of 16 k steps, so that
    // both the reads (16 floats of each column) and the writes (16 rows of the panel, 2 KiB) stay
    // in L1; column by column, each column's writes touched every row of the panel (48 KiB).
    long k0 = 0;
    for (; k0 + 16 <= kc; k0 += 16)
      for (long j = 0; j < nr; j++) {
        const float* col = src + j * cs + k0;
        float* out = dst + k0 * NR + j;
        for (long kk = 0; kk < 16; kk++) out[kk * NR] = col[kk];
      }
    for (long j = 0; j < nr; j++)
      for (long k = k0; k < kc; k++) dst[k * NR + j] = src[k + j * cs];
    return;
  }
  for (long j = 0; j < nr; j++)
    for (long k = 0; k < kc; k++) dst[k * NR + j] = src[k * rs + j * cs];
}

// Packing buffers start on a 64-byte boundary: a 512-bit load of a packed row never splits a cache line.
struct Scratch {
  std::vector<float> v;
  float* get(size_t n) {
    if (v.size() < n + 16) v.resize(n + 16);
    const auto p = reinterpret_cast<std::uintptr_t>(v.data());
    return v.data() + ((64 - p % 64) % 64) / sizeof(float);
  }
};

thread_local Scratch tlsA, tlsB;

// The epilogue of one finished tile of C: `bias` points at the bias of the tile's first column
// (nullptr: no epilogue).
struct TileEpilogue {
  const float* bias = nullptr;
  bool gelu = false;
  // The epilogue for the columns from j0 on, or none unless `last` (the depth's last block).
  static TileEpilogue at(const GemmEpilogue* e, long j0, bool last) { return e && last ? TileEpilogue{e->bias + j0, e->gelu} : TileEpilogue{}; }
  void apply(float* c, long ldc, long rows, long cols, long j) const {
    if (bias) ewBiasAct(c, ldc, rows, cols, bias + j, gelu);
  }
};

// C[0:mc, 0:nc] (+)= Ap * Bp for packed blocks; Bp starts at the column panel of C's first column.
// Each tile gets the epilogue right after its micro-kernel, while it is in L1.
void macroKernel(const MicroKernel& uk, long mc, long nc, long kc, const float* Ap, const float* Bp, float* C, long ldc, bool acc,
                 const TileEpilogue& ep) {
  const long MR = uk.mr, NR = uk.nr;
  for (long jr = 0; jr < nc; jr += NR) {
    const long nr = std::min(NR, nc - jr);
    const float* bp = Bp + (jr / NR) * kc * NR;
    for (long ir = 0; ir < mc; ir += MR) {
      const long mr = std::min(MR, mc - ir);
      uk.fn(kc, Ap + (ir / MR) * kc * MR, bp, C + ir * ldc + jr, ldc, acc, mr, nr);
      ep.apply(C + ir * ldc + jr, ldc, mr, nr, jr);
    }
  }
}

// Depth blocks of equal size, at most the kernel's KC: 1025 = 5 x 205 rather than 4 x 256 + 1,
// whose last block costs a whole pass over C (and a packing round) for one step of depth.
long balancedKc(const MicroKernel& uk, long K) {
  const long blocks = (K + uk.kc - 1) / uk.kc;
  return (K + blocks - 1) / blocks;
}

// One GEMM on the calling thread alone.
void gemmSerial(const MicroKernel& uk, const float* A, const float* B, float* C, const GemmShape& s, const GemmEpilogue* e) {
  const long MR = uk.mr, NR = uk.nr;
  const long mcMax = std::min(uk.mcMax, ((s.M + MR - 1) / MR) * MR);
  for (long jc = 0; jc < s.N; jc += uk.nc) {
    const long nc = std::min(uk.nc, s.N - jc);
    const long panels = (nc + NR - 1) / NR;
    const long kcB = balancedKc(uk, s.K);
    for (long pc = 0; pc < s.K; pc += kcB) {
      const long kc = std::min(kcB, s.K - pc);
      float* Bp = tlsB.get(panels * kc * NR);
      for (long q = 0; q < panels; q++)
        packBPanel(uk, B, s.rsB, s.csB, jc + q * NR, std::min(NR, nc - q * NR), pc, kc, Bp + q * kc * NR);
      float* Ap = tlsA.get(mcMax * kc);
      for (long ic = 0; ic < s.M; ic += mcMax) {
        const long mc = std::min(mcMax, s.M - ic);
        packA(uk, A, s.rsA, s.csA, ic, mc, pc, kc, Ap);
        macroKernel(uk, mc, nc, kc, Ap, Bp, C + ic * s.ldc + jc, s.ldc, pc > 0, TileEpilogue::at(e, jc, pc + kc >= s.K));
      }
    }
  }
}

// Whether a small product takes the dot-product kernel: rows of op(A) and columns of op(B) both
// contiguous along the depth (A * B^T), few rows of A and a long depth. The small kernel must first
// copy B transposed, K x N floats, which for few rows costs as much as the arithmetic; the dot
// kernel's horizontal sums cost more than the copy when the depth is short or A has many rows.
// Measured on 2 Zen 3 threads, 192 products with N = 205 (GFLOP/s, transposed copy -> dot): M 16,
// K 64: 70 -> 92 (FPT+'s prompts against cached keys); M 32, K 64: 86 -> 90; M 16, K 48: 72 -> 60-80;
// M 32, K 32: 93 -> 62; M 81, K 32: 114 -> 60.
bool takesDot(const MicroKernel& uk, const GemmShape& s) { return uk.dot != nullptr && s.csA == 1 && s.rsB == 1 && s.K >= 64 && s.M <= 24; }

// op(B)'s columns [j0, j1) into t, K x N with rows contiguous, for the small kernel. In strips of 16
// columns: 16 read streams whose lines each serve 16 depth steps, and one written line per step.
// Column by column, every write landed on another line of the copy, which past 32 KiB (K 64, N 205)
// no longer stayed in L1: 45 -> 26 GFLOP/s.
void copyRowsOfB(const float* B, const GemmShape& s, float* t, long j0, long j1) {
  for (long jb = j0; jb < j1; jb += 16) {
    const long je = std::min(j1, jb + 16);
    for (long k = 0; k < s.K; k++)
      for (long j = jb; j < je; j++) t[k * s.N + j] = B[k * s.rsB + j * s.csB];
  }
}

// An unpacked product: the dot-product kernel on op(B) in place, or the small kernel on op(B)'s
// rows (in place when contiguous, else in a copy).
struct Unpacked {
  bool dot;
  long tm, tn;       // the kernel's tile
  const float* b;    // op(B) as the kernel reads it
  long ldb;
  bool copies() const { return !dot && b == nullptr; }
};

Unpacked planUnpacked(const MicroKernel& uk, const float* B, const GemmShape& s) {
  if (takesDot(uk, s)) return {true, DOT_MR, DOT_NR, B, s.csB};
  if (s.csB == 1) return {false, uk.mr, uk.nr, B, s.rsB};
  return {false, uk.mr, uk.nr, nullptr, s.N};
}

// The tiles of C in columns [j0, j1) and rows [i0, i1) (tile-aligned starts), column strips outer:
// a strip of op(B) stays in cache while every row tile of op(A) passes. Each tile gets the epilogue
// right after its kernel.
void unpackedTiles(const MicroKernel& uk, const Unpacked& u, const float* A, float* C, const GemmShape& s, const TileEpilogue& ep,
                   long j0, long j1, long i0, long i1) {
  for (long j = j0; j < j1; j += u.tn) {
    const long nr = std::min(u.tn, j1 - j);
    for (long i = i0; i < i1; i += u.tm) {
      const long mr = std::min(u.tm, i1 - i);
      float* c = C + i * s.ldc + j;
      if (u.dot)
        uk.dot(s.K, A + i * s.rsA, s.rsA, u.b + j * u.ldb, u.ldb, c, s.ldc, mr, nr);
      else
        uk.small(s.K, A + i * s.rsA, s.rsA, s.csA, u.b + j, u.ldb, c, s.ldc, mr, nr);
      ep.apply(c, s.ldc, mr, nr, j);
    }
  }
}

// A product without packing, on the calling thread: the small kernel reads op(A) in place, and
// op(B) in place too when its rows are contiguous (else they are first copied out, unpadded: K x N
// floats); or, for A * B^T with few rows, the dot-product kernel reads both in place.
void gemmSmall(const MicroKernel& uk, const float* A, const float* B, float* C, const GemmShape& s, const GemmEpilogue* e) {
  Unpacked u = planUnpacked(uk, B, s);
  if (u.copies()) {
    float* t = tlsB.get(s.K * s.N);
    copyRowsOfB(B, s, t, 0, s.N);
    u.b = t;
  }
  unpackedTiles(uk, u, A, C, s, TileEpilogue::at(e, 0, true), 0, s.N, 0, s.M);
}

// One unpacked product over the pool: column strips are the tasks when there are as many as row
// tiles, else row tiles (each task reads all of the narrower operand, which is small).
void gemmSmallParallel(const MicroKernel& uk, const float* A, const float* B, float* C, const GemmShape& s, ThreadPool& pool,
                       const GemmEpilogue* e) {
  static Scratch sharedB;
  Unpacked u = planUnpacked(uk, B, s);
  if (u.copies()) {
    float* t = sharedB.get(s.K * s.N);
    pool.parallelFor((s.N + 15) / 16, [&](long q, int) { copyRowsOfB(B, s, t, q * 16, std::min(s.N, q * 16 + 16)); });
    u.b = t;
  }
  const TileEpilogue ep = TileEpilogue::at(e, 0, true);
  const long strips = (s.N + u.tn - 1) / u.tn, rows = (s.M + u.tm - 1) / u.tm;
  const bool byColumn = strips >= rows;
  const long units = byColumn ? strips : rows;
  const long tasks = std::min(units, 4L * pool.size());
  pool.parallelFor(tasks, [&](long q, int) {
    const long a = units * q / tasks, b = units * (q + 1) / tasks;
    if (byColumn)
      unpackedTiles(uk, u, A, C, s, ep, a * u.tn, std::min(s.N, b * u.tn), 0, s.M);
    else
      unpackedTiles(uk, u, A, C, s, ep, 0, s.N, a * u.tm, std::min(s.M, b * u.tm));
  });
}

// Whether a product takes gemmSmall: both operands within 64 KiB, where packing them cost as much
// as the arithmetic (a side network's attention, 81 x 81 x 8 per head: 32 -> 53 GFLOP/s on 2 Zen 3
// threads). From 16 x 205 x 64 (64 KiB) on, packing was as fast or faster (197 x 197 x 64 with op(A)
// transposed: 116 -> 92 GFLOP/s unpacked).
// Also unpacked: both operands read in place (rows of op(A) and of op(B) contiguous), a depth to 512
// (a 16-column strip of B within L1) and at most 64 columns, the attention's weighted sum P V.
// 24 products on 2 Zen 3 threads, packed -> unpacked: 197 x 197 x 64 148 -> 169 GFLOP/s, 400 x 400 x
// 64 147 -> 164; with 128 columns they were equal, with 192 packing won (171 -> 166), and with
// 1,025 deep equal (137 -> 129-137).
bool isSmall(const MicroKernel& uk, const GemmShape& s) {
  if (uk.small == nullptr || s.K > 512) return false;
  return (s.M * s.K + s.K * s.N) <= 16384 || (s.csA == 1 && s.csB == 1 && s.N <= 64);
}

// Whether a larger product runs unpacked too: C has at most 16 rows or 16 columns, so that each
// packed element of the other operand would serve only 16 multiply-adds (LoRA's rank-16 factors and
// their gradients, FPT+'s 16 prompts). Medians of 101 products on 2 Zen 3 threads, GFLOP/s packed ->
// unpacked: 16 x 1576 x 192 (A^T B) 47 -> 82-96; 1576 x 3072 x 16 83 -> 193; 3072 x 768 x 16 (A B^T)
// 53-88 -> 190; 16 x 768 x 3072 (A B^T, the dot kernel) 40 -> 147; 16 x 1576 x 768 (A^T B) 92 -> 90.
// At 24 rows packing won again (24 x 1576 x 768, A^T B: 117 -> 99).
bool isSkinny(const MicroKernel& uk, const GemmShape& s) { return uk.small != nullptr && (s.M <= 16 || s.N <= 16); }

// One GEMM spread over the pool: for each depth block, op(B)'s panels and op(A)'s row blocks are
// packed once (one parallel pass) into shared buffers; then row blocks (and, when there are few,
// column ranges) are the tasks.
void gemmParallel(const MicroKernel& uk, const float* A, const float* B, float* C, const GemmShape& s, ThreadPool& pool,
                  const GemmEpilogue* e) {
  const long MR = uk.mr, NR = uk.nr;
  const long T = pool.size();
  // Row blocks: a multiple of T when M allows, each at most mcMax rows and a multiple of MR.
  long blocks = std::max(1L, (s.M + uk.mcMax - 1) / uk.mcMax);
  blocks = ((blocks + T - 1) / T) * T;
  long mc = (s.M + blocks - 1) / blocks;
  mc = std::max(MR, ((mc + MR - 1) / MR) * MR);
  const long rowBlocks = (s.M + mc - 1) / mc;
  static Scratch sharedA, sharedB;
  for (long jc = 0; jc < s.N; jc += uk.nc) {
    const long nc = std::min(uk.nc, s.N - jc);
    const long panels = (nc + NR - 1) / NR;
    // At least 4 tasks per thread: taken from a shared counter, they even out a thread that
    // another process on the machine slows down (2 per thread left one core idle for a quarter
    // of each block when that happened).
    const long colSplits = std::min(panels, std::max(1L, (4 * T + rowBlocks - 1) / rowBlocks));
    const long panelsPerSplit = (panels + colSplits - 1) / colSplits;
    const long kcB = balancedKc(uk, s.K);
    for (long pc = 0; pc < s.K; pc += kcB) {
      const long kc = std::min(kcB, s.K - pc);
      float* Bp = sharedB.get(panels * kc * NR);
      float* Ap = sharedA.get(rowBlocks * mc * kc);
      // Row blocks of A are packed in panels of MR rows too, so that packing spreads evenly.
      const long aPanels = (s.M + MR - 1) / MR;
      pool.parallelFor(panels + aPanels, [&](long q, int) {
        if (q < panels) {
          packBPanel(uk, B, s.rsB, s.csB, jc + q * NR, std::min(NR, nc - q * NR), pc, kc, Bp + q * kc * NR);
          return;
        }
        const long i = (q - panels) * MR;  // first row of the panel; row blocks are whole panels
        packA(uk, A, s.rsA, s.csA, i, std::min(MR, s.M - i), pc, kc, Ap + (i / mc) * mc * kc + (i % mc) * kc);
      });
      pool.parallelFor(rowBlocks * colSplits, [&](long task, int) {
        const long block = task / colSplits, ic = block * mc;
        const long q0 = (task % colSplits) * panelsPerSplit;
        if (q0 >= panels) return;
        const long m = std::min(mc, s.M - ic);
        const long n = std::min(panelsPerSplit * NR, nc - q0 * NR);
        macroKernel(uk, m, n, kc, Ap + block * mc * kc, Bp + q0 * kc * NR, C + ic * s.ldc + jc + q0 * NR, s.ldc, pc > 0,
                    TileEpilogue::at(e, jc + q0 * NR, pc + kc >= s.K));
      });
    }
  }
}

}  // namespace

const char* sgemmIsa() { return active->name; }

bool sgemmSetIsa(const char* name) {
  const MicroKernel* k = findKernel(name);
  if (k) active = k;
  return k != nullptr;
}

void sgemmBatch(long batch, const float* A, const long* aOff, const float* B, const long* bOff, float* C,
                const long* cOff, const GemmShape& s, ThreadPool& pool, const GemmEpilogue* e) {
  if (s.M <= 0 || s.N <= 0 || batch <= 0) return;
  if (s.K <= 0) {
    for (long b = 0; b < batch; b++) {
      for (long i = 0; i < s.M; i++) std::fill(C + cOff[b] + i * s.ldc, C + cOff[b] + i * s.ldc + s.N, 0.f);
      TileEpilogue::at(e, 0, true).apply(C + cOff[b], s.ldc, s.M, s.N, 0);
    }
    return;
  }
  const MicroKernel& uk = *active;
  const long T = pool.size();
  const double flops = 2.0 * s.M * s.N * s.K;
  const bool unpacked = isSmall(uk, s) || isSkinny(uk, s);
  const auto one = unpacked ? gemmSmall : gemmSerial;
  // Tiny products are not worth waking the workers for.
  if (T == 1 || flops * batch < 2e5) {
    for (long b = 0; b < batch; b++) one(uk, A + aOff[b], B + bOff[b], C + cOff[b], s, e);
    return;
  }
  // Many matrices: one per task. Few large ones: each spread over every thread.
  if (batch >= 2 * T || (batch >= T && batch % T == 0) || flops < 4e6) {
    pool.parallelFor(batch, [&](long b, int) { one(uk, A + aOff[b], B + bOff[b], C + cOff[b], s, e); });
    return;
  }
  for (long b = 0; b < batch; b++)
    (unpacked ? gemmSmallParallel : gemmParallel)(uk, A + aOff[b], B + bOff[b], C + cOff[b], s, pool, e);
}
