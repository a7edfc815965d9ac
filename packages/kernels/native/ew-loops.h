// The inner loops of the element-wise kernels, compiled once per instruction set (ew-loops.inc
// included by ew-generic.cc, ew-avx2.cc and ew-avx512.cc, each with its own compiler flags), so
// that the compiler vectorises them for that set. elementwise.cc picks one table at run time.
#pragma once

/** What a reduction computes over its reduced axis. */
enum class ReduceOp { Sum, Mean, Max, Min };

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
};

extern const EwLoops ewLoopsGeneric;
#if defined(__x86_64__)
extern const EwLoops ewLoopsAvx2;
extern const EwLoops ewLoopsAvx512;
#endif
