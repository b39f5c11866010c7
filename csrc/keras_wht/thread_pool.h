// The kernels' parallel loops: pthreadpool (the pool XNNPACK and TFLite use) where the
// build found it (KERAS_WHT_PTHREADPOOL defined), else a small built-in pool.
#ifndef KERAS_WHT_THREAD_POOL_H_
#define KERAS_WHT_THREAD_POOL_H_

#include <stdint.h>

#include <functional>

namespace keras_wht {

// Splits [0, items) into `threads` contiguous pieces and runs fn(begin, end, piece) on
// each, piece 0 on the calling thread; returns when all are done. Each piece index runs
// once, so per-piece scratch indexed by `piece` is never shared. Calls from several
// threads at once take turns.
void ParallelFor(int threads, int64_t items, const std::function<void(int64_t, int64_t, int)>& fn);

// "pthreadpool" or "built-in": the pool ParallelFor runs on.
const char* ThreadPoolName();

// The elements of work each thread must get before the ops take another one: less and
// the second thread costs more than it saves. It depends on the pool (8K elements with
// pthreadpool, 2M with the built-in one; measured with benchmarks/threads.py). The
// environment variable KERAS_WHT_MIN_WORK_PER_THREAD overrides it (read at each call;
// benchmarks/threads.py and the tests set it to 1 to split any work).
int64_t MinWorkPerThread();

}  // namespace keras_wht

#endif  // KERAS_WHT_THREAD_POOL_H_
