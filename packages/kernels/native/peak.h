// The machine's ceiling for float32 arithmetic: fused multiply-adds on independent chains, in the
// widest vector instruction set the CPU has, on every thread of the pool at once.
#pragma once
#include "pool.h"

struct PeakResult {
  double gflops;    // FLOP/s of all threads together / 1e9 (an FMA counts as 2 FLOPs per lane)
  const char* isa;  // the instruction set measured: "avx512", "avx2-fma" or "generic"
  int threads;
  double seconds;   // wall time of the measured run
};

/**
 * Runs the FMA loop `repeats` times for about `seconds` each on every thread of the pool and
 * reports the fastest run's throughput (seconds: that run's wall time).
 */
PeakResult measurePeak(ThreadPool& pool, double seconds, int repeats);
