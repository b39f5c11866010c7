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

namespace keras_wht {
namespace internal {
void Run1DAvx2(const Wht1DShape& s, const PackedView& p, const float* in, float* out, int64_t b, int64_t e,
               float* scratch) {
  Impl<VecAvx2>::Run1D(s, p, in, out, b, e, scratch);
}
void Run2DAvx2(const Wht2DShape& s, const PackedView& p, const float* in, float* out, int64_t b, int64_t e,
               float* scratch) {
  Impl<VecAvx2>::Run2D(s, p, in, out, b, e, scratch);
}
void FwhtAvx2(float* data, int64_t rows, int n) { Impl<VecAvx2>::Fwht(data, rows, n); }
}  // namespace internal
}  // namespace keras_wht

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
#endif
