// The element-wise loops for the generic instruction set (compiler flags in build.mjs).
#define EW_TABLE ewLoopsGeneric
#define EW_NAME "generic"
#include "ew-loops.inc"
