// A fixed pool of worker threads for the CPU kernels. The calling thread takes
// part in every job, so a pool of size n starts n - 1 workers.
//
// Decode issues ~150 small parallel calls per token, so dispatch latency
// matters more than anything else here: a job is published by bumping an
// atomic generation counter that idle workers spin on for a short while before
// they fall back to sleeping on a condition variable.
//
// Jobs are serialised: concurrent callers of Run/ParallelFor take turns. A job
// must not start another job on the same pool (that would deadlock).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/base/thread_annotations.h"

namespace tessera {

class ThreadPool {
 public:
  // `threads` >= 1 is the number of threads that run a job, the caller
  // included. `spin_iterations` bounds how long an idle worker polls before
  // it sleeps (each iteration is one pause instruction, ~25 ns on Zen 4; the
  // default ~100 us bridges the gaps between the ops of a decode step).
  explicit ThreadPool(int threads, int spin_iterations = 1 << 12);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return size_; }

  // Runs fn(thread_index, size()) once on every thread of the pool (index 0 is
  // the caller) and returns when all have finished.
  template <typename Fn>
  void Run(Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    RunImpl(
        [](void* ctx, int thread, int threads) { (*static_cast<F*>(ctx))(thread, threads); },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }

  // Splits [0, n) into size() contiguous chunks of near-equal length and calls
  // fn(begin, end) for each non-empty chunk, in parallel. Contiguous static
  // chunks suit streaming kernels: each thread reads one run of memory.
  // fn may also take a third argument, the thread index (for per-thread
  // scratch).
  template <typename Fn>
  void ParallelFor(int64_t n, Fn&& fn) {
    if (n <= 0) return;
    if (size_ == 1 || n == 1) {
      Call(fn, 0, n, 0);
      return;
    }
    Run([&](int t, int threads) {
      const int64_t begin = n * t / threads;
      const int64_t end = n * (t + 1) / threads;
      if (begin < end) Call(fn, begin, end, t);
    });
  }

  // Like ParallelFor, but threads claim chunks of `grain` items from a shared
  // counter, for work whose cost varies per item (causal attention).
  template <typename Fn>
  void ParallelForDynamic(int64_t n, int64_t grain, Fn&& fn) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (size_ == 1 || n <= grain) {
      Call(fn, 0, n, 0);
      return;
    }
    std::atomic<int64_t> next{0};
    Run([&](int t, int) {
      for (;;) {
        const int64_t begin = next.fetch_add(grain, std::memory_order_relaxed);
        if (begin >= n) break;
        Call(fn, begin, begin + grain < n ? begin + grain : n, t);
      }
    });
  }

 private:
  template <typename Fn>
  static void Call(Fn& fn, int64_t begin, int64_t end, int thread) {
    if constexpr (std::is_invocable_v<Fn&, int64_t, int64_t, int>) {
      fn(begin, end, thread);
    } else {
      fn(begin, end);
    }
  }

  using JobFn = void (*)(void* ctx, int thread, int threads);

  void RunImpl(JobFn fn, void* ctx);
  void WorkerLoop(int index);

  const int size_;
  const int spin_iterations_;
  std::vector<std::thread> workers_;

  // Serialises callers: a pool runs one job at a time.
  std::mutex run_mu_;

  // The current job. Written by the caller before it bumps generation_
  // (release), read by workers after they observe the bump (acquire).
  JobFn job_fn_ = nullptr;
  void* job_ctx_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  // Workers still running the current job.
  std::atomic<int> pending_{0};

  // Sleeping workers wait here. sleepers_ lets the publisher skip the lock and
  // the notify when every worker is still spinning.
  std::mutex sleep_mu_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
  bool stop_ ABSL_GUARDED_BY(sleep_mu_) = false;
  std::atomic<bool> stopping_{false};
};

}  // namespace tessera
