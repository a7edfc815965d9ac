// Element-wise kernels, reductions and copies for float32 tensors held in one array (the WASM heap,
// or a CPU tensor's own array), spread over the pool's threads and vectorised for the CPU found at
// load time. They replace tfjs WASM kernels that run on one thread, some of them with scalar libm
// calls (Erf, Exp) or a transposed copy before every reduction.
#pragma once
#include "ew-loops.h"
#include "pool.h"

/** y = f(x), element by element. */
enum class UnaryOp { Exp, Erf, Sqrt, Rsqrt, Gelu };

/** Runs a unary op over n elements (x and y may be the same array). */
void ewUnary(UnaryOp op, const float* x, float* y, long n, ThreadPool& pool);

/** dx = dy * d/dx GELU(x) = dy * (Phi(x) + x phi(x)), the exact (erf) GELU's derivative. */
void ewGeluGrad(const float* x, const float* dy, float* dx, long n, ThreadPool& pool);

/** y[o, i] = op over r of x[o, r, i], for x of shape [outer, r, inner] (row-major) and y [outer, inner]. */
void ewReduce(ReduceOp op, const float* x, float* y, long outer, long r, long inner, ThreadPool& pool);

/**
 * y (contiguous, row-major in `shape`) = x read at strides: y[i0, ..., ik] = x[sum i_d * strides[d]].
 * Strides may be 0 (broadcast, tiling). Elements are 4 bytes of any type (float32 or int32).
 * rank <= 8.
 */
void ewStridedCopy(const float* x, float* y, int rank, const long* shape, const long* strides, ThreadPool& pool);

/**
 * y = a op b with broadcasting: y (contiguous, row-major in `shape`) at each index reads a and b at
 * their strides (0 along broadcast axes). rank <= 8.
 */
void ewBinary(BinaryOp op, const float* a, const long* aStrides, const float* b, const long* bStrides, float* y, int rank,
              const long* shape, ThreadPool& pool);

/** Softmax of scale * x over the last axis of [rows, cols], scale > 0. */
void ewSoftmax(const float* x, float* y, long rows, long cols, float scale, ThreadPool& pool);

/**
 * Softmax's backward, scaled: ds = scale * p * (dp - sum_j(dp * p)) per row of [rows, cols].
 */
void ewSoftmaxGrad(const float* p, const float* dp, float* ds, long rows, long cols, float scale, ThreadPool& pool);

/** The loops' instruction set in use ("avx512", "avx2-fma" or "generic"). */
const char* ewIsa();

/** Switches the loops to another instruction set; false (and no change) when this CPU lacks it. */
bool ewSetIsa(const char* name);

/**
 * Layer normalisation over the last axis of x [rows, n]: y = xhat w + b with xhat = (x - mean) rstd
 * and rstd = 1 / sqrt(var + eps) (biased variance); xhat [rows, n] and rstd [rows] are kept for backward.
 */
void ewLayerNorm(const float* x, const float* w, const float* b, float* y, float* xhat, float* rstd, long rows, long n, float eps,
                 ThreadPool& pool);

/** Layer normalisation's backward from xhat and rstd: dx [rows, n], dw [n] and db [n] (overwritten). */
void ewLayerNormGrad(const float* dy, const float* xhat, const float* rstd, const float* w, float* dx, float* dw, float* db, long rows,
                     long n, ThreadPool& pool);

/**
 * One AdamW step in one pass on the scaled gradient g' = gradScale g: m1 = b1 m + (1 - b1) g',
 * v1 = b2 v + (1 - b2) g'^2, p1 = decay p - step m1 / (sqrt(v1) / sqrt(bc2) + eps), with
 * c = {decay, b1, 1 - b1, b2, 1 - b2, sqrt(bc2), eps, step, gradScale}.
 */
void ewAdamW(const float* p, const float* m, const float* v, const float* g, float* p1, float* m1, float* v1, long n, const float* c,
             ThreadPool& pool);

/** y[r * yStride + c] = x[r * cols + c] for r < rows, c < cols: a block copied into a wider one (concat). */
void ewCopyRows(const float* x, float* y, long rows, long cols, long yStride, ThreadPool& pool);

/**
 * The SGEMM's epilogue on one tile of C, on the calling thread (a worker of the SGEMM already):
 * c[r * ldc + j] = act(c[r * ldc + j] + bias[j]) for r < rows, j < cols; act is the exact GELU when
 * `gelu`, else the identity. Bit for bit what a separate bias addition and FptGelu give.
 */
void ewBiasAct(float* c, long ldc, long rows, long cols, const float* bias, bool gelu);
