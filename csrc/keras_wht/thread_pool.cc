#include "keras_wht/thread_pool.h"

#include <stdlib.h>

#include <mutex>

#ifdef KERAS_WHT_PTHREADPOOL
#include <pthreadpool.h>

#include <map>
#else
#include <condition_variable>
#include <thread>
#include <vector>
#endif

namespace keras_wht {
namespace {

// See MinWorkPerThread; measured with benchmarks/threads.py (issue 14), 1 against 2
// threads on a 2-core x86-64 with AVX-512. pthreadpool's workers spin between jobs, so
// on idle cores a split pays from 16K elements (2 x 8K: x1.5 to 1.8, docs/bench/
// bench-threads.md) and not at 4K (x0.96 to 1.14): 8K a thread. (On cores busy with other
// work a spinning wait can cost a scheduler tick at any size: threads beyond the idle
// cores do not pay, for XNNPACK's own pthreadpool either.) The built-in pool wakes a sleeping
// worker, which the scheduler tends to start only when the caller sleeps or a core is
// idle: up to 2M elements a second thread gained nothing or lost (655K: 0.62 ms on one
// thread or two), from 4M it gained (x1.1 to 1.9; 10M: 11.7 -> 7.1 ms).
#ifdef KERAS_WHT_PTHREADPOOL
constexpr int64_t kDefaultMinWorkPerThread = int64_t{1} << 13;
#else
constexpr int64_t kDefaultMinWorkPerThread = int64_t{1} << 21;
#endif

int64_t Piece(int64_t items, int threads, int index) { return items * index / threads; }

#ifdef KERAS_WHT_PTHREADPOOL

// pthreadpool: its workers spin briefly after a job before they sleep, so the next op's
// wake-up is cheap. pthreadpool_create(n) fixes the thread count: one pool per count
// asked for (a TFLite app asks for one), created on first use and kept for the process.
struct Job {
  const std::function<void(int64_t, int64_t, int)>* fn;
  int64_t items;
  int threads;
};

void RunPiece(void* context, size_t piece) {
  const Job* job = static_cast<const Job*>(context);
  const int index = static_cast<int>(piece);
  (*job->fn)(Piece(job->items, job->threads, index), Piece(job->items, job->threads, index + 1), index);
}

pthreadpool_t PoolFor(int threads) {
  static std::mutex mutex;
  static auto* pools = new std::map<int, pthreadpool_t>();  // never destroyed, like the workers
  std::lock_guard<std::mutex> lock(mutex);
  pthreadpool_t& pool = (*pools)[threads];
  if (pool == nullptr) pool = pthreadpool_create(static_cast<size_t>(threads));
  return pool;
}

void Run(int threads, int64_t items, const std::function<void(int64_t, int64_t, int)>& fn) {
  Job job{&fn, items, threads};
  // A null pool (creation failed) runs every piece on the calling thread. pthreadpool
  // serialises calls on one pool, so concurrent callers take turns.
  pthreadpool_parallelize_1d(PoolFor(threads), RunPiece, &job, static_cast<size_t>(threads), 0);
}

#else

// The built-in pool, where pthreadpool is absent: workers sleep on a condition variable.
class Pool {
 public:
  void Run(int threads, int64_t items, const std::function<void(int64_t, int64_t, int)>& fn) {
    std::lock_guard<std::mutex> turn(run_mutex_);
    {
      std::unique_lock<std::mutex> lock(mutex_);
      while (static_cast<int>(workers_.size()) < threads - 1) {
        const int index = static_cast<int>(workers_.size()) + 1;
        workers_.emplace_back([this, index] { Work(index); });
        workers_.back().detach();  // the pool lives as long as the process
      }
      fn_ = &fn;
      items_ = items;
      threads_ = threads;
      pending_ = threads - 1;
      ++generation_;
    }
    wake_.notify_all();
    fn(0, Piece(items, threads, 1), 0);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
    fn_ = nullptr;
  }

 private:
  void Work(int index) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int64_t, int64_t, int)>* fn;
      int64_t items;
      int threads;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen && index < threads_; });
        seen = generation_;
        fn = fn_;
        items = items_;
        threads = threads_;
      }
      (*fn)(Piece(items, threads, index), Piece(items, threads, index + 1), index);
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::mutex run_mutex_, mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t, int64_t, int)>* fn_ = nullptr;
  int64_t items_ = 0;
  int threads_ = 0;
  int pending_ = 0;
  uint64_t generation_ = 0;
};

void Run(int threads, int64_t items, const std::function<void(int64_t, int64_t, int)>& fn) {
  static Pool* pool = new Pool();  // never destroyed: workers may outlive static destructors
  pool->Run(threads, items, fn);
}

#endif

}  // namespace

void ParallelFor(int threads, int64_t items, const std::function<void(int64_t, int64_t, int)>& fn) {
  if (threads <= 1 || items <= 1) {
    fn(0, items, 0);
    return;
  }
  if (threads > items) threads = static_cast<int>(items);
  Run(threads, items, fn);
}

int64_t MinWorkPerThread() {
  const char* value = getenv("KERAS_WHT_MIN_WORK_PER_THREAD");
  if (value != nullptr && *value != '\0') {
    char* end = nullptr;
    const long long n = strtoll(value, &end, 10);
    if (*end == '\0' && n >= 1) return n;
  }
  return kDefaultMinWorkPerThread;
}

const char* ThreadPoolName() {
#ifdef KERAS_WHT_PTHREADPOOL
  return "pthreadpool";
#else
  return "built-in";
#endif
}

}  // namespace keras_wht
