#include <optional>
#include <vector>

#include "coordinator/group_registry.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

GroupLoad Load(uint64_t id, int32_t running, int32_t max_sequences, int64_t outstanding, int64_t kv_blocks = 1000,
               bool ready = true) {
  GroupLoad g;
  g.id = id;
  g.ready = ready;
  g.running = running;
  g.max_sequences = max_sequences;
  g.outstanding = outstanding;
  g.kv_blocks = kv_blocks;
  g.block_size = 16;
  return g;
}

struct Case {
  const char* name;
  std::vector<GroupLoad> groups;
  int64_t prompt;
  int64_t max_tokens;
  std::optional<uint64_t> want;
};

TEST(PickGroup, LeastOutstandingAmongGroupsThatCanTakeIt) {
  const std::vector<Case> cases = {
      {"none", {}, 10, 10, std::nullopt},
      {"least outstanding", {Load(1, 2, 8, 300), Load(2, 5, 8, 120), Load(3, 1, 8, 200)}, 10, 10, 2},
      {"tie -> fewer running", {Load(1, 3, 8, 100), Load(2, 2, 8, 100)}, 10, 10, 2},
      {"tie -> lower id", {Load(2, 2, 8, 100), Load(1, 2, 8, 100)}, 10, 10, 1},
      {"full group skipped", {Load(1, 8, 8, 10), Load(2, 3, 8, 500)}, 10, 10, 2},
      {"all full", {Load(1, 8, 8, 10), Load(2, 4, 4, 500)}, 10, 10, std::nullopt},
      {"not ready skipped", {Load(1, 0, 8, 0, 1000, false), Load(2, 1, 8, 50)}, 10, 10, 2},
      // 10 + 30 = 40 positions = 3 blocks of 16.
      {"KV too small skipped", {Load(1, 0, 8, 0, 2), Load(2, 1, 8, 900, 3)}, 10, 30, 2},
      {"KV too small everywhere", {Load(1, 0, 8, 0, 2)}, 10, 30, std::nullopt},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(PickGroup(c.groups, c.prompt, c.max_tokens), c.want) << c.name;
  }
}

TEST(GroupRegistry, RoutesOnlyReadyGroupsAndForgetsDeadIdentities) {
  GroupRegistry r;
  const SteadyTime t0{};
  Group& a = r.Add("A", "a", 1, 1, t0);
  Group& b = r.Add("B", "b", 2, 1, t0);
  EXPECT_EQ(a.id, 1u);
  EXPECT_EQ(b.id, 2u);
  EXPECT_EQ(r.Pick(4, 4), std::nullopt);  // both planning
  for (Group* g : {&a, &b}) {
    g->state = proto::GROUP_READY;
    g->kv_blocks = 100;
    g->max_sequences = 2;
  }
  a.outstanding = 50;
  b.outstanding = 10;
  EXPECT_EQ(r.Pick(4, 4), 2u);
  int64_t blocks = 0;
  int32_t block_size = 0;
  b.kv_blocks = 300;
  r.LargestReadyKv(blocks, block_size);
  EXPECT_EQ(blocks, 300);
  r.MarkDead(b);
  EXPECT_EQ(b.epoch, 2u);
  EXPECT_EQ(r.FindByIdentity("B"), nullptr);
  EXPECT_EQ(r.FindByIdentity("A"), &a);
  EXPECT_EQ(r.Pick(4, 4), 1u);
  EXPECT_EQ(r.LiveIds(), (std::vector<uint64_t>{1}));
  EXPECT_EQ(r.ReadyCount(), 1);
  r.PruneDead(0);
  EXPECT_EQ(r.Find(2), nullptr);
  EXPECT_EQ(r.groups().size(), 1u);
}

}  // namespace
}  // namespace tessera
