#include "kernels/cpu/thread_pool.h"

#include <atomic>
#include <chrono>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace tessera {
namespace {

TEST(ThreadPoolTest, ParallelForCoversEveryIndexOnceInContiguousChunks) {
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
      EXPECT_LE(chunks.load(), threads);
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
  std::vector<std::atomic<int>> per_thread(3);
  pool.ParallelFor(3000, [&](int64_t b, int64_t e, int t) { per_thread[t].fetch_add(static_cast<int>(e - b)); });
  int total = 0;
  for (auto& p : per_thread) {
    EXPECT_EQ(p.load(), 1000);  // equal contiguous chunks
    total += p.load();
  }
  EXPECT_EQ(total, 3000);
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
