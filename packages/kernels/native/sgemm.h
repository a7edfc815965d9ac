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

/**
 * What the SGEMM applies to each tile of C once its depth is complete, while the tile is still in
 * cache: C(i, j) = act(C(i, j) + bias[j]), act the exact GELU when `gelu`, else the identity. It
 * saves the separate passes over C of a linear layer's bias addition and activation.
 */
struct GemmEpilogue {
  const float* bias;  // N values, indexed by C's column
  bool gelu;
};

/** The instruction set of the micro-kernel in use ("avx512", "avx2-fma" or "generic"). */
const char* sgemmIsa();

/** Switches to the supported micro-kernel of that name; false (and no change) when there is none. */
bool sgemmSetIsa(const char* name);

/**
 * Runs `batch` GEMMs of one shape; matrix b reads A + aOff[b], B + bOff[b] and writes C + cOff[b]
 * (C is overwritten), then applies `epilogue` to it when given. Work is spread over the pool's threads.
 */
void sgemmBatch(long batch, const float* A, const long* aOff, const float* B, const long* bOff, float* C,
                const long* cOff, const GemmShape& s, ThreadPool& pool, const GemmEpilogue* epilogue = nullptr);
