// The AVX-512 kernels (x86-64; AVX-512 F, 16 floats per vector, 32 registers). This unit
// alone is compiled for AVX-512; kernels.cc calls it only when the CPU reports AVX-512 F.
#if defined(__x86_64__) || defined(_M_X64)
#include "keras_wht/kernels.h"  // before the target switch: <vector> stays generic

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f")
#endif
#define KERAS_WHT_AVX512_UNIT 1
#include "keras_wht/kernels_impl.h"

KERAS_WHT_DEFINE_KERNELS(Avx512, VecAvx512)

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
#endif
