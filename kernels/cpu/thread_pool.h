// A fixed pool of worker threads for the CPU kernels. The calling thread takes
// part in every job, so a pool of size n starts n - 1 workers.
//
// Decode issues ~150 small parallel calls per token, so dispatch latency
// matters more than anything else here: a job is published by bumping an
// atomic generation that idle workers spin on for a short while before they
// fall back to sleeping on a condition variable.
//
// ParallelFor and ParallelForDynamic hand out chunks from a shared counter and
// wait only for the workers that joined the job: a worker the OS has not
// scheduled by the time the chunks run out is not waited for (it skips the
// job), so a busy machine slows a call down instead of stalling it for a
// scheduler time slice.
//
// Jobs are serialised: concurrent callers take turns. A job must not start
// another job on the same pool (that would deadlock).
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
  // the caller) and returns when all have finished. For work that needs every
  // thread (the machine probes); kernels use ParallelFor.
  template <typename Fn>
  void Run(Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    RunImpl(
        [](void* ctx, int thread, int threads) { (*static_cast<F*>(ctx))(thread, threads); },
        const_cast<void*>(static_cast<const void*>(&fn)), /*wait_for_all=*/true);
  }

  // Splits [0, n) into contiguous chunks and calls fn(begin, end) for each, in
  // parallel; returns when all are done. fn may take a third argument, the
  // index of the thread running it (for per-thread scratch). The first size()
  // chunks cover 3/4 of the range, one long sequential stream per thread (what
  // streaming kernels want); the rest comes in 2 * size() small chunks that
  // balance the finish (or let the caller cover a worker that starts late).
  template <typename Fn>
  void ParallelFor(int64_t n, Fn&& fn) {
    if (n <= 0) return;
    if (size_ == 1) {
      Call(fn, 0, n, 0);
      return;
    }
    const int64_t t = size_;
    if (n < 3 * t) {
      ForChunks(n, [&](int64_t c, int thread) { Call(fn, c, c + 1, thread); });
      return;
    }
    const int64_t big = n * 3 / 4;
    auto start = [&](int64_t c) {
      return c <= t ? big * c / t : big + (n - big) * (c - t) / (2 * t);
    };
    ForChunks(3 * t, [&](int64_t c, int thread) {
      const int64_t b = start(c), e = start(c + 1);
      if (b < e) Call(fn, b, e, thread);
    });
  }

  // Like ParallelFor with chunks of at most `grain` items, for work whose cost
  // varies per item (causal attention).
  template <typename Fn>
  void ParallelForDynamic(int64_t n, int64_t grain, Fn&& fn) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    const int64_t chunks = (n + grain - 1) / grain;
    ForChunks(chunks, [&](int64_t c, int t) { Call(fn, c * grain, c * grain + grain < n ? c * grain + grain : n, t); });
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

  // Runs body(chunk, thread) for chunk in [0, chunks), each exactly once.
  template <typename Body>
  void ForChunks(int64_t chunks, Body&& body) {
    if (size_ == 1 || chunks == 1) {
      for (int64_t c = 0; c < chunks; ++c) body(c, 0);
      return;
    }
    std::atomic<int64_t> next{0};
    auto job = [&](int t, int) {
      for (int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < chunks;) body(c, t);
    };
    using F = decltype(job);
    RunImpl([](void* ctx, int thread, int threads) { (*static_cast<F*>(ctx))(thread, threads); }, &job,
            /*wait_for_all=*/false);
  }

  using JobFn = void (*)(void* ctx, int thread, int threads);

  // wait_for_all: every worker runs the job. Otherwise the caller, once its
  // own call returns (the job's work is exhausted), closes the job to workers
  // that have not joined yet and waits only for those that did.
  void RunImpl(JobFn fn, void* ctx, bool wait_for_all);
  void WorkerLoop(int index);

  // state_ packs the job generation (high 32 bits), a closed flag and the
  // number of workers that joined the job.
  static constexpr uint64_t kClosed = uint64_t{1} << 31;
  static constexpr uint64_t kJoinedMask = kClosed - 1;
  static uint32_t Generation(uint64_t state) { return static_cast<uint32_t>(state >> 32); }

  const int size_;
  const int spin_iterations_;
  std::vector<std::thread> workers_;

  // Serialises callers: a pool runs one job at a time.
  std::mutex run_mu_;
  uint32_t generation_ = 0;  // last published; written by the caller under run_mu_

  // The current job. Written by the caller before it publishes state_
  // (release), read by a worker after it joined (acquire); unchanged until
  // every joined worker has finished.
  JobFn job_fn_ = nullptr;
  void* job_ctx_ = nullptr;
  std::atomic<uint64_t> state_{0};
  std::atomic<int> finished_{0};  // joined workers done with the current job

  // Sleeping workers wait here. sleepers_ lets the publisher skip the lock and
  // the notify when every worker is still spinning.
  std::mutex sleep_mu_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
  bool stop_ ABSL_GUARDED_BY(sleep_mu_) = false;
  std::atomic<bool> stopping_{false};
};

}  // namespace tessera
