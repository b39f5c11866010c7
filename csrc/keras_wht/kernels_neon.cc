// The NEON kernels (aarch64, where NEON is part of the base instruction set).
#if defined(__aarch64__) && defined(__ARM_NEON)
#include "keras_wht/kernels_impl.h"

namespace keras_wht {
namespace internal {
void Run1DNeon(const Wht1DShape& s, const PackedView& p, const float* in, float* out, int64_t b, int64_t e,
               float* scratch) {
  Impl<VecNeon>::Run1D(s, p, in, out, b, e, scratch);
}
void Run2DNeon(const Wht2DShape& s, const PackedView& p, const float* in, float* out, int64_t b, int64_t e,
               float* scratch) {
  Impl<VecNeon>::Run2D(s, p, in, out, b, e, scratch);
}
void FwhtNeon(float* data, int64_t rows, int n) { Impl<VecNeon>::Fwht(data, rows, n); }
}  // namespace internal
}  // namespace keras_wht
#endif
