// A small process-wide pool of worker threads for the kernels' parallel loops.
#ifndef KERAS_WHT_THREAD_POOL_H_
#define KERAS_WHT_THREAD_POOL_H_

#include <stdint.h>

#include <functional>

namespace keras_wht {

// Splits [0, items) into `threads` contiguous pieces and runs fn(begin, end, piece) on
// each, piece 0 on the calling thread; returns when all are done. Calls from several
// threads at once take turns.
void ParallelFor(int threads, int64_t items, const std::function<void(int64_t, int64_t, int)>& fn);

}  // namespace keras_wht

#endif  // KERAS_WHT_THREAD_POOL_H_
