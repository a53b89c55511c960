// DiffPlans and MovedBytes against byte counts worked out by hand from the
// tensor shapes (f32: 4 bytes an element; q8_0: 34 bytes per 32 elements).
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "partition/partitioner.h"
#include "partition/plan_spec.h"
#include "partition_test_util.h"

namespace tessera {
namespace {

using testing::Fast;
using testing::GqaConfig;
using testing::MhaConfig;
using testing::NarrowConfig;
using testing::Same;
using testing::StartupPlan;
using testing::TiedBiasConfig;

constexpr int64_t kGqaLayer = 11'276'288;  // see partitioner_cases_test

proto::ShardPlan FromSpec(const ModelTensors& m, const proto::ShardPlan& current, std::vector<int64_t> bounds,
                          std::vector<double> shares) {
  PlanSpecInput spec;
  spec.layer_bounds = std::move(bounds);
  spec.tp_shares = std::move(shares);
  absl::StatusOr<proto::ShardPlan> plan =
      PlanFromSpec(m, current, Same(current.tp() * current.pp(), Fast()), spec, {});
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *plan : proto::ShardPlan();
}

TEST(DiffPlansTest, EqualPlansAreNoChangeAndMoveNothing) {
  for (const ModelConfig& c : {GqaConfig(), MhaConfig(), TiedBiasConfig()}) {
    const ModelTensors m = UniformModel(c, DType::kF32, DType::kF32);
    const proto::ShardPlan plan = StartupPlan(m, 2, 2);
    EXPECT_EQ(DiffPlans(plan, plan), "no change") << c.name;
    EXPECT_EQ(DiffPlans(m, plan, plan), "no change") << c.name;
    EXPECT_EQ(MovedBytes(m, plan, plan), 0) << c.name;
    // The same ranges computed again (other predicted times do not count).
    EXPECT_EQ(MovedBytes(m, plan, FromSpec(m, plan, {0, 3, 6}, {})), 0) << c.name;
  }
}

// Moving layer 3 from stage 1 to stage 0 costs that layer once per rank of
// stage 0; stage 1 only drops it.
TEST(DiffPlansTest, AMovedCut) {
  const ModelTensors m = UniformModel(GqaConfig(), DType::kF32, DType::kF32);
  const proto::ShardPlan from = StartupPlan(m, 1, 2);
  const proto::ShardPlan to = FromSpec(m, from, {0, 4, 6}, {});
  EXPECT_EQ(MovedBytes(m, from, to), kGqaLayer);
  EXPECT_EQ(MovedBytesOfRank(m, from, to, 0), kGqaLayer);
  EXPECT_EQ(MovedBytesOfRank(m, from, to, 1), 0);
  // Back again: stage 1 loads it.
  EXPECT_EQ(MovedBytes(m, to, from), kGqaLayer);
  EXPECT_EQ(MovedBytesOfRank(m, to, from, 1), kGqaLayer);

  EXPECT_EQ(DiffPlans(from, to),
            "rank 0 (stage 0, tp 0): layers [0,3) -> [0,4)\n"
            "rank 1 (stage 1, tp 0): layers [3,6) -> [4,6)");
  EXPECT_EQ(DiffPlans(m, from, to),
            "rank 0 (stage 0, tp 0): layers [0,3) -> [0,4), +10.75 MiB to load\n"
            "rank 1 (stage 1, tp 0): layers [3,6) -> [4,6), nothing to load\n"
            "in all: +10.75 MiB to load (11276288 bytes)");
}

// MHA tp 2 x pp 2, halves: each rank of stage 0 loads its half of layer 3
// (wq, wk, wv rows 256 x 512, wo columns 512 x 256: 4 x 524,288; gate, up
// rows 704 x 512, down columns 512 x 704: 3 x 1,441,792; both norms, 4096)
// = 6,426,624 bytes.
TEST(DiffPlansTest, AMovedCutOnTensorRanks) {
  const ModelTensors m = UniformModel(MhaConfig(), DType::kF32, DType::kF32);
  const proto::ShardPlan from = StartupPlan(m, 2, 2);
  const proto::ShardPlan to = FromSpec(m, from, {0, 4, 6}, {});
  EXPECT_EQ(MovedBytesOfRank(m, from, to, 0), 6'426'624);
  EXPECT_EQ(MovedBytesOfRank(m, from, to, 1), 6'426'624);
  EXPECT_EQ(MovedBytes(m, from, to), 2 * 6'426'624);
}

// Shares 1:1 -> 3:1: rank 0 gains query/KV heads 4-5, FFN columns
// [704, 1056) and vocabulary rows [500, 750); rank 1 keeps a part of what it
// had and loads nothing.
TEST(DiffPlansTest, ChangedTensorShares) {
  struct Case {
    const char* name;
    ModelConfig config;
    DType type;
    int64_t rank0;
  };
  const Case cases[] = {
      // Per layer: heads 2 x (wq, wk, wv 128 x 512 rows + wo 512 x 128
      // columns) = 1,048,576; FFN 352 x (gate, up, down) = 2,162,688; 6
      // layers = 19,267,584; 250 embedding rows and 250 output rows, 512,000
      // each: 20,291,584.
      {"mha f32", MhaConfig(), DType::kF32, 20'291'584},
      // Tied, 4 KV heads of 2 query heads, QKV biases: heads [4,6) and KV
      // head 2: wq 262,144 + wk, wv 131,072 each + wo 262,144 + biases (128 +
      // 2 x 64) x 4 = 1024; FFN 2,162,688; per layer 2,950,144, 6 layers
      // 17,700,864; the tied output is the embedding's 250 rows, once:
      // 512,000. 18,212,864.
      {"tied bias f32", TiedBiasConfig(), DType::kF32, 18'212'864},
      // Narrow q8_0 (rows of 128 are 136 bytes; 96 columns 102 bytes): heads
      // [0,4) -> [0,6): 32 rows of wq, wk, wv (4352 each) and 32 columns of
      // wo (128 x 34 = 4352); FFN 6/6 -> 9/3 blocks: 96 rows of gate and up
      // (13,056 each), 96 columns of down (128 x 102 = 13,056); per layer
      // 56,576, 6 layers 339,456; embedding and output 250 rows, 34,000
      // each: 407,456.
      {"narrow q8_0", NarrowConfig(), DType::kQ8_0, 407'456},
  };
  for (const Case& c : cases) {
    const ModelTensors m = UniformModel(c.config, c.type, c.type);
    const proto::ShardPlan from = FromSpec(m, StartupPlan(m, 2, 1), {}, {1, 1});
    const proto::ShardPlan to = FromSpec(m, from, {}, {3, 1});
    EXPECT_EQ(MovedBytesOfRank(m, from, to, 0), c.rank0) << c.name;
    EXPECT_EQ(MovedBytesOfRank(m, from, to, 1), 0) << c.name;
    EXPECT_EQ(MovedBytes(m, from, to), c.rank0) << c.name;
    const std::string diff = DiffPlans(from, to);
    EXPECT_NE(diff.find("rank 0 (stage 0, tp 0): q heads [0,4) -> [0,6)"), std::string::npos) << c.name << diff;
    EXPECT_NE(diff.find("vocab [0,500) -> [0,750)"), std::string::npos) << c.name << diff;
    EXPECT_NE(diff.find("rank 1 (stage 0, tp 1): q heads [4,8) -> [6,8)"), std::string::npos) << c.name << diff;
  }
}

// A new rank (a bigger group) loads everything it holds; one the new plan
// lacks is named.
TEST(DiffPlansTest, ChangedShape) {
  const ModelTensors m = UniformModel(GqaConfig(), DType::kF32, DType::kF32);
  const proto::ShardPlan one = StartupPlan(m, 1, 1);
  const proto::ShardPlan two = StartupPlan(m, 1, 2);
  EXPECT_EQ(MovedBytesOfRank(m, one, two, 1), two.ranks(1).weight_bytes());
  EXPECT_EQ(MovedBytesOfRank(m, one, two, 0), 0);  // layers [0,3) and the embedding, all held before
  const std::string diff = DiffPlans(two, one);
  EXPECT_NE(diff.find("shape tp 1 x pp 2 -> tp 1 x pp 1"), std::string::npos) << diff;
  EXPECT_NE(diff.find("rank 1: not in the new plan"), std::string::npos) << diff;
}

}  // namespace
}  // namespace tessera
