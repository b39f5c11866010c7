// The NEON kernels (aarch64, where NEON is part of the base instruction set).
#if defined(__aarch64__) && defined(__ARM_NEON)
#include "keras_wht/kernels_impl.h"

KERAS_WHT_DEFINE_KERNELS(Neon, VecNeon)
#endif
