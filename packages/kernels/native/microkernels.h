// The register-blocked micro-kernels of the SGEMM: each computes one MR x NR tile of C from a packed
// MR-row panel of op(A) and a packed NR-column panel of op(B), both k-major and zero-padded. Which
// one runs is chosen at run time from what the CPU supports (the widest wins), or forced by name.
#pragma once

/**
 * C[0:mr, 0:nr] (+)= A-panel * B-panel over depth kc; `acc` adds to C instead of overwriting it.
 * mr <= MR and nr <= NR: edge tiles write only their valid part.
 */
using MicroKernelFn = void (*)(long kc, const float* a, const float* b, float* c, long ldc, bool acc, long mr, long nr);

/**
 * The unpacked kernel of small products: C[0:mr, 0:nr] = op(A) * B over the whole depth kc, reading
 * op(A)(r, k) at a[r * rsA + k * csA] (any strides: it is broadcast element by element) and B(k, j)
 * at b[k * ldb + j] (rows contiguous), with mr <= MR and nr <= NR. Nothing is read past the valid
 * rows and columns, so it runs on the operands in place.
 */
using SmallKernelFn = void (*)(long kc, const float* a, long rsA, long csA, const float* b, long ldb, float* c, long ldc,
                               long mr, long nr);

/**
 * The unpacked kernel of small products whose operands both run along the depth (C = A * B^T, the
 * layout of attention scores and of a linear layer): C[r, j] = sum over k < kc of a[r * lda + k] *
 * b[j * ldb + k], for r < mr <= DOT_MR and j < nr <= DOT_NR. Each entry is a dot product of two
 * contiguous rows, so neither operand is copied or transposed; nothing past kc, mr or nr is read.
 */
using DotKernelFn = void (*)(long kc, const float* a, long lda, const float* b, long ldb, float* c, long ldc, long mr, long nr);

/** The tile of a DotKernelFn: rows of A by rows of B. */
constexpr long DOT_MR = 4, DOT_NR = 3;

/** A micro-kernel with the tile shape its packing needs and the cache blocking tuned for it. */
struct MicroKernel {
  const char* name;  // "avx512", "avx2-fma" or "generic": the instruction set, as info() reports it
  long mr, nr;       // register tile
  long kc;           // depth of a packed block: a KC x NR panel of B stays in L1
  long mcMax;        // rows of a packed A block (a multiple of mr): MC x KC stays in L2
  long nc;           // columns of a packed B block
  MicroKernelFn fn;
  SmallKernelFn small;  // for small products with contiguous rows of op(B), or nullptr (always packed)
  DotKernelFn dot;      // for small products of rows along the depth (A * B^T), or nullptr
};

/** Every micro-kernel this CPU can run, widest first (the generic one always last). */
const MicroKernel* const* supportedKernels(int* count);

/** The supported kernel of that name, or nullptr. */
const MicroKernel* findKernel(const char* name);
