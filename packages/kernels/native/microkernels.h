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

/** A micro-kernel with the tile shape its packing needs and the cache blocking tuned for it. */
struct MicroKernel {
  const char* name;  // "avx512", "avx2-fma" or "generic": the instruction set, as info() reports it
  long mr, nr;       // register tile
  long kc;           // depth of a packed block: a KC x NR panel of B stays in L1
  long mcMax;        // rows of a packed A block (a multiple of mr): MC x KC stays in L2
  long nc;           // columns of a packed B block
  MicroKernelFn fn;
  SmallKernelFn small;  // for small products with contiguous rows of op(B), or nullptr (always packed)
};

/** Every micro-kernel this CPU can run, widest first (the generic one always last). */
const MicroKernel* const* supportedKernels(int* count);

/** The supported kernel of that name, or nullptr. */
const MicroKernel* findKernel(const char* name);
