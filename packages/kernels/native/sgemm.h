// Single-precision batched GEMM: C[b] = op(A)[b] (M x K) * op(B)[b] (K x N), with op(A)(i, k) at
// A[i * rsA + k * csA] and op(B)(k, j) at B[k * rsB + j * csB], so transposed operands are read in
// place (the packing step absorbs the strides; no transposed copy is ever made).
#pragma once
#include "microkernels.h"
#include "pool.h"

struct GemmShape {
  long M, N, K;
  long rsA, csA, rsB, csB, ldc;
};

/** The instruction set of the micro-kernel in use ("avx512", "avx2-fma" or "generic"). */
const char* sgemmIsa();

/** Switches to the supported micro-kernel of that name; false (and no change) when there is none. */
bool sgemmSetIsa(const char* name);

/**
 * Runs `batch` GEMMs of one shape; matrix b reads A + aOff[b], B + bOff[b] and writes C + cOff[b]
 * (C is overwritten). Work is spread over the pool's threads.
 */
void sgemmBatch(long batch, const float* A, const long* aOff, const float* B, const long* bOff, float* C,
                const long* cOff, const GemmShape& s, ThreadPool& pool);
