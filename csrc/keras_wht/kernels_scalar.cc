// The portable kernels (one float per "vector"): every CPU runs them.
#include "keras_wht/kernels_impl.h"

KERAS_WHT_DEFINE_KERNELS(Scalar, VecScalar)
