// The portable kernels (one float per "vector"): every CPU runs them.
#include "keras_wht/kernels_impl.h"

namespace keras_wht {
namespace internal {
void Run1DScalar(const Wht1DShape& s, const PackedView& p, const float* in, float* out, int64_t b, int64_t e,
                 float* scratch) {
  Impl<VecScalar>::Run1D(s, p, in, out, b, e, scratch);
}
void Run2DScalar(const Wht2DShape& s, const PackedView& p, const float* in, float* out, int64_t b, int64_t e,
                 float* scratch) {
  Impl<VecScalar>::Run2D(s, p, in, out, b, e, scratch);
}
void FwhtScalar(float* data, int64_t rows, int n) { Impl<VecScalar>::Fwht(data, rows, n); }
}  // namespace internal
}  // namespace keras_wht
