// The AVX2 + FMA kernels (x86-64). This unit alone is compiled for AVX2; kernels.cc
// calls it only when the CPU reports AVX2 and FMA.
#if defined(__x86_64__) || defined(_M_X64)
#include "keras_wht/kernels.h"  // before the target switch: <vector> stays generic

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define KERAS_WHT_AVX2_UNIT 1
#include "keras_wht/kernels_impl.h"

KERAS_WHT_DEFINE_KERNELS(Avx2, VecAvx2)

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
#endif
