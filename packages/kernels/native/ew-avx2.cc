// The element-wise loops for the avx2-fma instruction set (compiler flags in build.mjs).
#if defined(__x86_64__)
#define EW_TABLE ewLoopsAvx2
#define EW_NAME "avx2-fma"
#include "ew-loops.inc"
#endif
