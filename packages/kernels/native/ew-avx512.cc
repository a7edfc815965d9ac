// The element-wise loops for the avx512 instruction set (compiler flags in build.mjs).
#if defined(__x86_64__)
#define EW_TABLE ewLoopsAvx512
#define EW_NAME "avx512"
#include "ew-loops.inc"
#endif
