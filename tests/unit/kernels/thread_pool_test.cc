#include "kernels/cpu/thread_pool.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace tessera {
namespace {

TEST(ThreadPoolTest, ParallelForCoversEveryIndexOnceInFewContiguousChunks) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {0, 1, 2, 3, 7, 100, 1001}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<int> chunks{0};
      pool.ParallelFor(n, [&](int64_t b, int64_t e) {
        EXPECT_LT(b, e);
        chunks.fetch_add(1);
        for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << threads << " threads, n " << n;
      // A few chunks per thread at most, and one call when there is one thread.
      EXPECT_LE(chunks.load(), threads == 1 ? 1 : 4 * threads);
    }
  }
}

TEST(ThreadPoolTest, RunGivesEachThreadItsIndex) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> seen(4);
  pool.Run([&](int t, int n) {
    EXPECT_EQ(n, 4);
    seen[t].fetch_add(1);
  });
  for (auto& s : seen) EXPECT_EQ(s.load(), 1);
}

TEST(ThreadPoolTest, ThreadIndexIsPassedToThreeArgumentBodies) {
  ThreadPool pool(3);
  // Bodies running at the same time must see different thread indices: each
  // marks its index busy and fails if it already was.
  std::vector<std::atomic<int>> busy(3);
  std::atomic<int> total{0};
  std::atomic<bool> clash{false};
  for (int iter = 0; iter < 100; ++iter) {
    pool.ParallelFor(3000, [&](int64_t b, int64_t e, int t) {
      ASSERT_GE(t, 0);
      ASSERT_LT(t, 3);
      if (busy[t].exchange(1) != 0) clash = true;
      total.fetch_add(static_cast<int>(e - b));
      busy[t].store(0);
    });
  }
  EXPECT_FALSE(clash.load());
  EXPECT_EQ(total.load(), 100 * 3000);
}

TEST(ThreadPoolTest, DynamicScheduleCoversEveryIndexOnce) {
  ThreadPool pool(3);
  for (int64_t grain : {1, 4, 50}) {
    std::vector<std::atomic<int>> hits(997);
    pool.ParallelForDynamic(997, grain, [&](int64_t b, int64_t e, int t) {
      EXPECT_LE(e - b, grain);
      EXPECT_GE(t, 0);
      EXPECT_LT(t, 3);
      for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
    });
    for (auto& h : hits) ASSERT_EQ(h.load(), 1) << "grain " << grain;
  }
}

TEST(ThreadPoolTest, ManyBackToBackJobsSeeEachOthersWrites) {
  // Each job reads what the previous job wrote on another thread (plain,
  // non-atomic data): the pool's completion wait and publication must order
  // them. Two buffers so that no job reads what it writes.
  ThreadPool pool(3);
  std::vector<int64_t> buf[2] = {std::vector<int64_t>(3, 0), std::vector<int64_t>(3, 0)};
  const int kJobs = 3000;
  for (int iter = 0; iter < kJobs; ++iter) {
    const std::vector<int64_t>& in = buf[iter % 2];
    std::vector<int64_t>& out = buf[(iter + 1) % 2];
    pool.Run([&](int t, int n) { out[t] = in[(t + 1) % n] + 1; });
  }
  for (int64_t v : buf[kJobs % 2]) EXPECT_EQ(v, kJobs);
}

TEST(ThreadPoolTest, ParallelForFinishesWithSleepingOrLateWorkers) {
  // Workers asleep between jobs may join late or not at all; every chunk must
  // still run exactly once, and the next job must not be disturbed by a worker
  // that missed the previous one.
  ThreadPool pool(3, /*spin_iterations=*/1);
  for (int iter = 0; iter < 200; ++iter) {
    if (iter % 20 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::vector<int> hits(64, 0);  // plain ints: chunks are disjoint
    pool.ParallelFor(64, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) ++hits[i];
    });
    for (int h : hits) ASSERT_EQ(h, 1) << "iteration " << iter;
  }
}

TEST(ThreadPoolTest, SleepingWorkersWakeUp) {
  // A tiny spin budget sends workers to sleep between jobs.
  ThreadPool pool(3, /*spin_iterations=*/1);
  for (int iter = 0; iter < 20; ++iter) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::set<int> threads;
    std::mutex mu;
    pool.Run([&](int t, int) {
      std::lock_guard<std::mutex> lock(mu);
      threads.insert(t);
    });
    EXPECT_EQ(threads.size(), 3u);
  }
}

TEST(ThreadPoolTest, ConcurrentCallersTakeTurns) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 3; ++c) {
    callers.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        pool.ParallelFor(10, [&](int64_t b, int64_t e) { total.fetch_add(e - b); });
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 3 * 200 * 10);
}

}  // namespace
}  // namespace tessera
