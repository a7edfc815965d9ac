// The inner loops of the element-wise kernels, compiled once per instruction set (ew-loops.inc
// included by ew-generic.cc, ew-avx2.cc and ew-avx512.cc, each with its own compiler flags), so
// that the compiler vectorises them for that set. elementwise.cc picks one table at run time.
#pragma once

/** What a reduction computes over its reduced axis. */
enum class ReduceOp { Sum, Mean, Max, Min };

/** An element-wise binary operation. */
enum class BinaryOp { Add, Sub, Mul, Div };

/** One instruction set's loops. Pointers may alias exactly (in place) but not partly overlap. */
struct EwLoops {
  const char* name;  // "avx512", "avx2-fma" or "generic", as the SGEMM's micro-kernels are named
  void (*exp)(const float* x, float* y, long n);
  void (*erf)(const float* x, float* y, long n);
  void (*sqrt)(const float* x, float* y, long n);
  void (*rsqrt)(const float* x, float* y, long n);
  void (*gelu)(const float* x, float* y, long n);
  void (*geluGrad)(const float* x, const float* dy, float* dx, long n);
  float (*rowSum)(const float* x, long n);
  float (*rowMax)(const float* x, long n, bool isMin);
  // y = x (first), else y = y (+, max, min) x, over n elements.
  void (*accumulate)(const float* x, float* y, long n, ReduceOp op, bool first);
  void (*scale)(float* y, long n, float s);
  // y = softmax(s x) over one row, s > 0.
  void (*softmaxRow)(const float* x, float* y, long n, float s);
  void (*softmaxGradRow)(const float* p, const float* dp, float* ds, long n, float scale);
  void (*gather)(const float* x, float* y, long n, long stride);
  // One row of layer normalisation over n features: xhat = (x - mean) rstd, y = xhat w + b; returns rstd.
  float (*layerNormRow)(const float* x, const float* w, const float* b, float* y, float* xhat, long n, float eps);
  // One row of its backward: dx = rstd (g - mean(g) - xhat mean(g xhat)) with g = dy w; dw += dy xhat, db += dy.
  void (*layerNormGradRow)(const float* dy, const float* xhat, float rstd, const float* w, float* dx, float* dw, float* db, long n);
  // One AdamW update over n elements (see elementwise.h), into new arrays.
  void (*adamw)(const float* p, const float* m, const float* v, const float* g, float* p1, float* m1, float* v1, long n,
                const float* c);
  // y[i] = a[i * sa] op b[i * sb] over n elements (strides 0 broadcast one value, 1 is contiguous).
  void (*binary)(BinaryOp op, const float* a, long sa, const float* b, long sb, float* y, long n);
  // The SGEMM's epilogue on one tile of C held in cache: c[r * ldc + j] = act(c[r * ldc + j] + bias[j])
  // for r < rows, j < cols, with act GELU (exact, erf) when `gelu`, else the identity.
  void (*biasAct)(float* c, long ldc, long rows, long cols, const float* bias, bool gelu);
};

extern const EwLoops ewLoopsGeneric;
#if defined(__x86_64__)
extern const EwLoops ewLoopsAvx2;
extern const EwLoops ewLoopsAvx512;
#endif
