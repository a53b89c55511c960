#include "kernels/cpu/thread_pool.h"

#include <emmintrin.h>  // _mm_pause (SSE2, part of baseline x86-64)

namespace tessera {

namespace {

// After this many pause iterations (~25 ns each on Zen 4) a waiting caller
// yields its core between polls, which matters when the pool has more threads
// than there are free cores: the worker it waits for may need that core.
constexpr int kCallerSpinBeforeYield = 1 << 10;

}  // namespace

ThreadPool::ThreadPool(int threads, int spin_iterations)
    : size_(threads < 1 ? 1 : threads), spin_iterations_(spin_iterations) {
  workers_.reserve(static_cast<size_t>(size_ - 1));
  for (int i = 1; i < size_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(sleep_mu_);
    stop_ = true;
  }
  stopping_.store(true, std::memory_order_relaxed);
  // A new generation wakes spinning workers; the notify wakes sleeping ones.
  state_.store(static_cast<uint64_t>(generation_ + 1) << 32, std::memory_order_seq_cst);
  wake_.notify_all();
  for (std::thread& w : workers_) w.join();
}

void ThreadPool::RunImpl(JobFn fn, void* ctx, bool wait_for_all) {
  std::lock_guard<std::mutex> run_lock(run_mu_);
  if (size_ == 1) {
    fn(ctx, 0, 1);
    return;
  }
  job_fn_ = fn;
  job_ctx_ = ctx;
  finished_.store(0, std::memory_order_relaxed);
  ++generation_;
  // seq_cst pairs with the sleepers_ increment in WorkerLoop: either this
  // thread sees the sleeper and notifies, or the sleeper sees the new
  // generation before it waits (no lost wake-up).
  state_.store(static_cast<uint64_t>(generation_) << 32, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    // Taking the lock orders the notify after a sleeper's predicate check.
    { std::lock_guard<std::mutex> lock(sleep_mu_); }
    wake_.notify_all();
  }
  fn(ctx, 0, size_);
  int joined = size_ - 1;
  if (!wait_for_all) {
    joined = static_cast<int>(state_.fetch_or(kClosed, std::memory_order_acq_rel) & kJoinedMask);
  }
  int spins = 0;
  while (finished_.load(std::memory_order_acquire) != joined) {
    if (++spins < kCallerSpinBeforeYield) {
      _mm_pause();
    } else {
      std::this_thread::yield();
    }
  }
}

void ThreadPool::WorkerLoop(int index) {
  // Generation 0 is the one before the first job; a worker that starts late
  // still sees every job published since the pool was built.
  uint32_t seen = 0;
  for (;;) {
    uint64_t s;
    int spins = 0;
    while (Generation(s = state_.load(std::memory_order_acquire)) == seen) {
      if (++spins < spin_iterations_) {
        _mm_pause();
        continue;
      }
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      {
        std::unique_lock<std::mutex> lock(sleep_mu_);
        wake_.wait(lock, [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sleep_mu_) {
          return stop_ || Generation(state_.load(std::memory_order_seq_cst)) != seen;
        });
      }
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
      spins = 0;
    }
    if (stopping_.load(std::memory_order_relaxed)) return;
    seen = Generation(s);
    // Join unless the caller already closed this job (its work is done).
    bool joined = false;
    while ((s & kClosed) == 0 && Generation(s) == seen) {
      if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        joined = true;
        break;
      }
    }
    if (!joined) continue;
    job_fn_(job_ctx_, index, size_);
    finished_.fetch_add(1, std::memory_order_release);
  }
}

}  // namespace tessera
