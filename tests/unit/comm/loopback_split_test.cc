// Loopback Split: grouping, order by (key, old rank), collectives inside.
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/comm/loopback_harness.h"

namespace tessera {
namespace {

using testing::LoopbackRanks;

class LoopbackSplit : public ::testing::TestWithParam<int> {};

// World rank r joins group r % groups; keys reverse the order inside groups.
TEST_P(LoopbackSplit, GroupsAreOrderedByKeyAndWorkIndependently) {
  const int groups = GetParam();
  constexpr int kWorld = 6;
  const int per_group = kWorld / groups;
  LoopbackRanks ranks(kWorld);
  ranks.Run([&](Communicator& world) {
    const int color = world.rank() % groups;
    absl::StatusOr<std::unique_ptr<Communicator>> sub = world.Split(color, -world.rank());
    ASSERT_TRUE(sub.ok()) << sub.status();
    Communicator& g = **sub;
    ASSERT_EQ(g.size(), per_group);
    // Members of color c are c, c + groups, ...; reversed by the key.
    const int index = world.rank() / groups;
    EXPECT_EQ(g.rank(), per_group - 1 - index);
    EXPECT_EQ(g.name(), "loopback world." + std::to_string(color) + " " + std::to_string(g.rank()) + "/" +
                            std::to_string(per_group));

    // The sum of world ranks in the group, and the gathered world ranks in
    // sub-rank order.
    std::vector<float> v = {static_cast<float>(world.rank())};
    ASSERT_TRUE(g.AllReduceSum(std::span<float>(v)).ok());
    float expected = 0;
    for (int r = color; r < kWorld; r += groups) expected += static_cast<float>(r);
    EXPECT_EQ(v[0], expected);
    const int32_t me = world.rank();
    std::vector<int32_t> all(per_group);
    ASSERT_TRUE(g.AllGather(AsBytes(std::span<const int32_t>(&me, 1)), AsWritableBytes(std::span<int32_t>(all))).ok());
    for (int i = 0; i < per_group; ++i) EXPECT_EQ(all[i], color + groups * (per_group - 1 - i));

    // Point-to-point inside the group does not see the world's messages.
    if (g.size() > 1) {
      const int32_t token = 1000 + world.rank();
      ASSERT_TRUE(g.Send(AsBytes(std::span<const int32_t>(&token, 1)), (g.rank() + 1) % g.size(), 0).ok());
      ASSERT_TRUE(world.Send(AsBytes(std::span<const int32_t>(&token, 1)), (world.rank() + 1) % kWorld, 0).ok());
      int32_t got = 0;
      const int from = (g.rank() + g.size() - 1) % g.size();
      ASSERT_TRUE(g.Recv(AsWritableBytes(std::span<int32_t>(&got, 1)), from, 0).ok());
      EXPECT_EQ(got, 1000 + color + groups * (per_group - 1 - from));
      ASSERT_TRUE(
          world.Recv(AsWritableBytes(std::span<int32_t>(&got, 1)), (world.rank() + kWorld - 1) % kWorld, 0).ok());
      EXPECT_EQ(got, 1000 + (world.rank() + kWorld - 1) % kWorld);
    }
    EXPECT_TRUE(world.Barrier().ok());
  });
}

INSTANTIATE_TEST_SUITE_P(Shapes, LoopbackSplit, ::testing::Values(1, 2, 3, 6));

TEST(LoopbackSplitNested, TpInsidePpGroupsAndRepeatedSplits) {
  // 2 pipeline stages x 2 tensor ranks, split twice from the world, then a
  // second split of the same parent: each must get its own group.
  LoopbackRanks ranks(4);
  ranks.Run([&](Communicator& world) {
    const int stage = world.rank() / 2, tp = world.rank() % 2;
    absl::StatusOr<std::unique_ptr<Communicator>> tp_comm = world.Split(stage, tp);
    absl::StatusOr<std::unique_ptr<Communicator>> pp_comm = world.Split(tp, stage);
    ASSERT_TRUE(tp_comm.ok() && pp_comm.ok());
    (*tp_comm)->set_label("tp");
    EXPECT_EQ((*tp_comm)->name(), "loopback tp " + std::to_string(tp) + "/2");
    EXPECT_EQ((*pp_comm)->rank(), stage);
    std::vector<float> a = {1.0f}, b = {10.0f};
    ASSERT_TRUE((*tp_comm)->AllReduceSum(std::span<float>(a)).ok());
    ASSERT_TRUE((*pp_comm)->AllReduceSum(std::span<float>(b)).ok());
    EXPECT_EQ(a[0], 2.0f);
    EXPECT_EQ(b[0], 20.0f);
    // A split of a split.
    absl::StatusOr<std::unique_ptr<Communicator>> single = (*tp_comm)->Split((*tp_comm)->rank(), 0);
    ASSERT_TRUE(single.ok());
    EXPECT_EQ((*single)->size(), 1);
    std::vector<float> c = {5.0f};
    EXPECT_TRUE((*single)->AllReduceSum(std::span<float>(c)).ok());
    EXPECT_EQ(c[0], 5.0f);
  });
}

TEST(LoopbackSplitErrors, NegativeColorIsInvalidArgument) {
  LoopbackRanks ranks(1);
  EXPECT_EQ(ranks.comms[0]->Split(-1, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera
