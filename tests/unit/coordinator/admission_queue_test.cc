#include "coordinator/admission_queue.h"

#include <chrono>
#include <vector>

#include "gtest/gtest.h"

namespace tessera {
namespace {

using namespace std::chrono_literals;

std::vector<uint64_t> Drain(AdmissionQueue& q) {
  std::vector<uint64_t> out;
  while (!q.empty()) {
    out.push_back(q.Front());
    q.PopFront();
  }
  return out;
}

TEST(AdmissionQueue, BoundedFifoWithContinuationsAtTheFront) {
  const SteadyTime t0{};
  AdmissionQueue q(3);
  EXPECT_TRUE(q.PushBack(1, t0));
  EXPECT_TRUE(q.PushBack(2, t0));
  EXPECT_TRUE(q.PushBack(3, t0));
  EXPECT_TRUE(q.full());
  EXPECT_FALSE(q.PushBack(4, t0));  // the caller answers BUSY
  EXPECT_EQ(q.size(), 3u);
  q.PushFront(9, t0);  // a continuation goes in regardless of the limit
  EXPECT_EQ(q.size(), 4u);
  EXPECT_EQ(Drain(q), (std::vector<uint64_t>{9, 1, 2, 3}));
}

TEST(AdmissionQueue, RemoveFromAnywhere) {
  const SteadyTime t0{};
  AdmissionQueue q(10);
  for (uint64_t k = 1; k <= 5; ++k) q.PushBack(k, t0);
  EXPECT_TRUE(q.Remove(3));
  EXPECT_TRUE(q.Remove(1));
  EXPECT_TRUE(q.Remove(5));
  EXPECT_FALSE(q.Remove(3));
  EXPECT_FALSE(q.Contains(3));
  EXPECT_TRUE(q.Contains(4));
  EXPECT_TRUE(q.PushBack(6, t0));
  EXPECT_EQ(Drain(q), (std::vector<uint64_t>{2, 4, 6}));
}

TEST(AdmissionQueue, ExpiredCountsFromQueueingTime) {
  const SteadyTime t0{};
  AdmissionQueue q(10);
  q.PushBack(1, t0);
  q.PushBack(2, t0 + 50ms);
  q.PushBack(3, t0 + 100ms);
  q.PushFront(4, t0 + 120ms);  // requeued late: its wait starts again
  EXPECT_EQ(q.Expired(t0 + 99ms, 100ms), (std::vector<uint64_t>{}));
  EXPECT_EQ(q.Expired(t0 + 150ms, 100ms), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(q.Expired(t0 + 220ms, 100ms), (std::vector<uint64_t>{4, 1, 2, 3}));
  EXPECT_EQ(q.size(), 4u);  // Expired does not remove
}

TEST(AdmissionQueue, LimitZeroTakesNothingNew) {
  AdmissionQueue q(0);
  EXPECT_TRUE(q.full());
  EXPECT_FALSE(q.PushBack(1, SteadyTime{}));
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace tessera
