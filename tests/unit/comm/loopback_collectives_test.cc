// Loopback collectives without faults: results, order, bit-identity, stats.
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/comm/loopback_harness.h"

namespace tessera {
namespace {

using testing::LoopbackRanks;

// Values whose float sum depends on the order of the additions, so a rank
// summing in its own order would get different bits.
float Contribution(int rank, size_t i) {
  const float scale[] = {1e8f, 1.0f, -1e8f, 3.25f, 1e-3f};
  return scale[rank % 5] * static_cast<float>(i % 7 + 1) + 0.1f * static_cast<float>(rank);
}

class LoopbackCollectives : public ::testing::TestWithParam<int> {};

TEST_P(LoopbackCollectives, AllReduceSumIsTheRankOrderSumOnEveryRank) {
  const int n = GetParam();
  constexpr size_t kCount = 1000;
  std::vector<float> expected(kCount);
  for (size_t i = 0; i < kCount; ++i) {
    float acc = Contribution(0, i);
    for (int r = 1; r < n; ++r) acc += Contribution(r, i);
    expected[i] = acc;
  }
  LoopbackRanks ranks(n);
  std::vector<std::vector<float>> results(n);
  ranks.Run([&](Communicator& c) {
    std::vector<float> data(kCount);
    for (size_t i = 0; i < kCount; ++i) data[i] = Contribution(c.rank(), i);
    ASSERT_TRUE(c.AllReduceSum(std::span<float>(data)).ok());
    results[c.rank()] = data;
  });
  for (int r = 0; r < n; ++r) {
    ASSERT_EQ(results[r].size(), kCount);
    EXPECT_EQ(std::memcmp(results[r].data(), expected.data(), kCount * sizeof(float)), 0) << "rank " << r;
  }
}

TEST_P(LoopbackCollectives, AllGatherIsInRankOrder) {
  const int n = GetParam();
  LoopbackRanks ranks(n);
  ranks.Run([&](Communicator& c) {
    const int32_t mine[3] = {c.rank(), 10 * c.rank(), -c.rank()};
    std::vector<int32_t> all(3 * n, 99);
    ASSERT_TRUE(c.AllGather(AsBytes(std::span<const int32_t>(mine)), AsWritableBytes(std::span<int32_t>(all))).ok());
    for (int r = 0; r < n; ++r) {
      EXPECT_EQ(all[3 * r], r);
      EXPECT_EQ(all[3 * r + 1], 10 * r);
      EXPECT_EQ(all[3 * r + 2], -r);
    }
  });
}

TEST_P(LoopbackCollectives, BroadcastFromEveryRoot) {
  const int n = GetParam();
  LoopbackRanks ranks(n);
  ranks.Run([&](Communicator& c) {
    for (int root = 0; root < n; ++root) {
      std::vector<int32_t> data(5, c.rank() == root ? 1000 + root : -1);
      ASSERT_TRUE(c.Broadcast(AsWritableBytes(std::span<int32_t>(data)), root).ok());
      for (int32_t v : data) EXPECT_EQ(v, 1000 + root) << "root " << root << " rank " << c.rank();
    }
  });
}

TEST_P(LoopbackCollectives, BarrierAndEmptyPayloads) {
  const int n = GetParam();
  LoopbackRanks ranks(n);
  ranks.Run([&](Communicator& c) {
    EXPECT_TRUE(c.Barrier().ok());
    EXPECT_TRUE(c.AllReduceSum(std::span<float>()).ok());
    EXPECT_TRUE(c.AllGather({}, {}).ok());
    EXPECT_TRUE(c.Broadcast({}, n - 1).ok());
    EXPECT_TRUE(c.Barrier().ok());
  });
}

INSTANTIATE_TEST_SUITE_P(Sizes, LoopbackCollectives, ::testing::Values(1, 2, 3, 4, 5));

TEST(LoopbackCollectivesStats, CountsOpsAndBytes) {
  LoopbackRanks ranks(3);
  ranks.Run([&](Communicator& c) {
    std::vector<float> f(8, 1.0f);
    std::vector<std::byte> one(4), three(12);
    ASSERT_TRUE(c.AllReduceSum(std::span<float>(f)).ok());                                        // 32 out, 32 in
    ASSERT_TRUE(c.AllGather(std::span<const std::byte>(one), std::span<std::byte>(three)).ok());  // 4 out, 12 in
    ASSERT_TRUE(c.Broadcast(std::span<std::byte>(three), 0).ok());  // root 12 out, others 12 in
    ASSERT_TRUE(c.Barrier().ok());
    if (c.rank() == 1) {
      ASSERT_TRUE(c.Send(std::span<const std::byte>(one), 2, 7).ok());
    }
    if (c.rank() == 2) {
      ASSERT_TRUE(c.Recv(std::span<std::byte>(one), 1, 7).ok());
    }
    const CommStats& s = c.stats();
    EXPECT_EQ(s.ops, c.rank() == 0 ? 4 : 5);
    EXPECT_EQ(s.bytes_sent, 32 + 4 + (c.rank() == 0 ? 12 : 0) + (c.rank() == 1 ? 4 : 0));
    EXPECT_EQ(s.bytes_received, 32 + 12 + (c.rank() == 0 ? 0 : 12) + (c.rank() == 2 ? 4 : 0));
    EXPECT_GE(s.seconds, 0.0);
    c.ResetStats();
    EXPECT_EQ(c.stats().ops, 0);
  });
}

TEST(LoopbackCollectivesErrors, SizeMismatchIsInvalidArgument) {
  LoopbackRanks ranks(2);
  ranks.Run([&](Communicator& c) {
    std::vector<float> f(c.rank() == 0 ? 4 : 5, 1.0f);
    absl::Status s = c.AllReduceSum(std::span<float>(f));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  });
}

TEST(LoopbackCollectivesErrors, AllGatherNeedsSizeTimesSend) {
  LoopbackRanks ranks(1);
  std::vector<std::byte> send(4), recv(5);
  absl::Status s = ranks.comms[0]->AllGather(std::span<const std::byte>(send), std::span<std::byte>(recv));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

TEST(LoopbackCollectivesNames, NameHasKindLabelRankAndSize) {
  LoopbackRanks ranks(2);
  EXPECT_EQ(ranks.comms[1]->name(), "loopback world 1/2");
  ranks.comms[1]->set_label("tp");
  EXPECT_EQ(ranks.comms[1]->name(), "loopback tp 1/2");
}

}  // namespace
}  // namespace tessera
