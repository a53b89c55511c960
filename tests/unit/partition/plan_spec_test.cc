// PlanFromSpec against splits worked out by hand. GqaConfig in f32 (see
// partitioner_cases_test): a layer is 11,276,288 bytes (L), the output
// 2,050,048; devices are memory-bound, so Partition shares a stage in
// proportion to bandwidth.
#include "partition/plan_spec.h"

#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "partition/partitioner.h"
#include "partition_test_util.h"

namespace tessera {
namespace {

using testing::Device;
using testing::Fast;
using testing::GqaConfig;
using testing::MhaConfig;
using testing::NarrowConfig;
using testing::Same;
using testing::StageStarts;
using testing::StartupPlan;

ModelTensors F32(const ModelConfig& c) { return UniformModel(c, DType::kF32, DType::kF32); }

// {begin, end} of q heads, kv heads, ffn and vocab of one rank.
std::vector<int64_t> Ranges(const proto::RankShard& r) {
  return {r.q_heads().begin(), r.q_heads().end(), r.kv_heads().begin(), r.kv_heads().end(),
          r.ffn().begin(),     r.ffn().end(),     r.vocab().begin(),    r.vocab().end()};
}

proto::StageTiming Timing(int stage, double mean_seconds, int64_t layers, uint64_t steps = 100) {
  proto::StageTiming t;
  t.set_stage(stage);
  t.set_steps(steps);
  t.set_mean_step_seconds(mean_seconds);
  t.set_layers(layers);
  return t;
}

PlanSpecInput Bounded(std::vector<int64_t> bounds) {
  PlanSpecInput s;
  s.layer_bounds = std::move(bounds);
  return s;
}

PlanSpecInput Shared(std::vector<double> shares) {
  PlanSpecInput s;
  s.tp_shares = std::move(shares);
  return s;
}

PlanSpecInput Auto() {
  PlanSpecInput s;
  s.auto_balance = true;
  return s;
}

absl::StatusOr<proto::ShardPlan> Plan(const ModelTensors& m, const proto::ShardPlan& current,
                                      const std::vector<proto::DeviceProfile>& profiles, const PlanSpecInput& spec,
                                      const std::vector<proto::StageTiming>& timings = {}) {
  absl::StatusOr<proto::ShardPlan> plan = PlanFromSpec(m, current, profiles, spec, timings);
  if (plan.ok()) {
    EXPECT_TRUE(ValidatePlan(*plan, m).ok()) << ValidatePlan(*plan, m);
    EXPECT_EQ(plan->kv_tokens(), current.kv_tokens());
  }
  return plan;
}

TEST(PlanFromSpecTest, LayerBoundsGiveExactlyThoseRanges) {
  const ModelTensors m = F32(GqaConfig());
  struct Case {
    int pp;
    std::vector<int64_t> bounds;
  };
  const Case cases[] = {
      {2, {0, 1, 6}}, {2, {0, 5, 6}}, {3, {0, 1, 2, 6}}, {3, {0, 4, 5, 6}}, {6, {0, 1, 2, 3, 4, 5, 6}}};
  for (const Case& c : cases) {
    const proto::ShardPlan current = StartupPlan(m, 1, c.pp, 256);
    auto plan = Plan(m, current, Same(c.pp, Fast()), Bounded(c.bounds));
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(StageStarts(*plan), c.bounds);
  }
}

// Rank 0 three times rank 1's bandwidth: MHA heads 6/2, FFN 1056/352 (the
// norms shift 2048 bytes of 8,650,752 per layer: quotas 1056.3 and 351.7),
// vocabulary 750/250, whatever the layer bounds.
TEST(PlanFromSpecTest, WithLayerBoundsTensorSharesFollowTheProfiles) {
  const ModelTensors m = F32(MhaConfig());
  const proto::ShardPlan current = StartupPlan(m, 2, 2);
  std::vector<proto::DeviceProfile> profiles = {Fast(60), Fast(20), Fast(60), Fast(20)};
  auto plan = Plan(m, current, profiles, Bounded({0, 2, 6}));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(StageStarts(*plan), (std::vector<int64_t>{0, 2, 6}));
  for (int s = 0; s < 2; ++s) {
    EXPECT_EQ(Ranges(plan->ranks(2 * s)), (std::vector<int64_t>{0, 6, 0, 6, 0, 1056, 0, 750})) << s;
    EXPECT_EQ(Ranges(plan->ranks(2 * s + 1)), (std::vector<int64_t>{6, 8, 6, 8, 1056, 1408, 750, 1000})) << s;
  }
}

TEST(PlanFromSpecTest, TensorSharesGiveTheHandComputedSplits) {
  struct Case {
    const char* name;
    ModelConfig config;
    DType type;
    std::vector<double> shares;
    std::vector<int64_t> rank0, rank1;
  };
  const Case cases[] = {
      // MHA f32: as the profiles 3:1 above.
      {"mha f32 3:1", MhaConfig(), DType::kF32, {3, 1}, {0, 6, 0, 6, 0, 1056, 0, 750},
       {6, 8, 6, 8, 1056, 1408, 750, 1000}},
      // The shares' scale does not matter.
      {"mha f32 0.75:0.25", MhaConfig(), DType::kF32, {0.75, 0.25}, {0, 6, 0, 6, 0, 1056, 0, 750},
       {6, 8, 6, 8, 1056, 1408, 750, 1000}},
      // 2 KV heads on 2 ranks: one each (4 query heads), so the FFN makes up
      // for it: 1163 columns (worked out in tensor_split_test).
      {"gqa f32 3:1", GqaConfig(), DType::kF32, {3, 1}, {0, 4, 0, 1, 0, 1163, 0, 750},
       {4, 8, 1, 2, 1163, 1408, 750, 1000}},
      // q8_0 heads of 16: wo cuts on 32 columns, so heads go in pairs (4
      // units: 3/1 = heads 6/2). FFN in blocks of 32 (12 units): per layer
      // F = 156,672 FFN bytes, attention A = 69,632, norms N = 1024 per
      // rank; weights 0.75 (F + A + 2N) - (0.75 A + N) = 118,016 and
      // 39,168 - 512 = 38,656: quotas 9.04 and 2.96: 9/3 blocks = 288/96.
      {"narrow q8_0 3:1", NarrowConfig(), DType::kQ8_0, {3, 1}, {0, 6, 0, 6, 0, 288, 0, 750},
       {6, 8, 6, 8, 288, 384, 750, 1000}},
      // 2:1: head pairs 2.67/1.33 -> 3/1 (heads 6/2, more than 2:1); FFN
      // weights 2/3 (228,352) - 53,248 = 98,986.7 and 76,117.3 - 18,432 =
      // 57,685.3: quotas 7.58 and 4.42 -> 8/4 blocks = 256/128 (rank 1
      // takes more FFN for its fewer heads); vocabulary 667/333.
      {"narrow q8_0 2:1", NarrowConfig(), DType::kQ8_0, {2, 1}, {0, 6, 0, 6, 0, 256, 0, 667},
       {6, 8, 6, 8, 256, 384, 667, 1000}},
  };
  for (const Case& c : cases) {
    const ModelTensors m = UniformModel(c.config, c.type, c.type);
    const proto::ShardPlan current = StartupPlan(m, 2, 1);
    auto plan = Plan(m, current, Same(2, Fast()), Shared(c.shares));
    ASSERT_TRUE(plan.ok()) << c.name << ": " << plan.status();
    EXPECT_EQ(Ranges(plan->ranks(0)), c.rank0) << c.name;
    EXPECT_EQ(Ranges(plan->ranks(1)), c.rank1) << c.name;
  }
}

// Shares alone keep the current layer ranges; shares with bounds set both,
// on every stage (a middle stage holds no vocabulary).
TEST(PlanFromSpecTest, TensorSharesAloneKeepTheLayersAndGoWithBounds) {
  const ModelTensors m = F32(MhaConfig());
  const proto::ShardPlan current = StartupPlan(m, 2, 3);
  ASSERT_EQ(StageStarts(current), (std::vector<int64_t>{0, 2, 4, 6}));
  auto shares_only = Plan(m, current, Same(6, Fast()), Shared({3, 1}));
  ASSERT_TRUE(shares_only.ok()) << shares_only.status();
  EXPECT_EQ(StageStarts(*shares_only), StageStarts(current));

  PlanSpecInput both = Shared({3, 1});
  both.layer_bounds = {0, 1, 3, 6};
  auto plan = Plan(m, current, Same(6, Fast()), both);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(StageStarts(*plan), both.layer_bounds);
  for (int s = 0; s < 3; ++s) {
    const bool vocab = s != 1;
    EXPECT_EQ(Ranges(plan->ranks(2 * s)), (std::vector<int64_t>{0, 6, 0, 6, 0, 1056, 0, vocab ? 750 : 0})) << s;
    EXPECT_EQ(Ranges(plan->ranks(2 * s + 1)),
              (std::vector<int64_t>{6, 8, 6, 8, 1056, 1408, vocab ? 750 : 0, vocab ? 1000 : 0}))
        << s;
  }
}

// 12 layers, equal devices: the group starts 6/6. Stage s's time per layer
// is t_s = mean / layers; the cut k minimises max(k t0, (12 - k) t1).
TEST(PlanFromSpecTest, AutoMovesLayersFromSlowStagesToFastOnes) {
  ModelConfig c = GqaConfig();
  c.n_layers = 12;
  const ModelTensors m = F32(c);
  const proto::ShardPlan current = StartupPlan(m, 1, 2);
  ASSERT_EQ(StageStarts(current), (std::vector<int64_t>{0, 6, 12}));
  struct Case {
    const char* name;
    std::vector<proto::StageTiming> timings;
    std::vector<int64_t> want;
  };
  const Case cases[] = {
      // t0 = 0.3, t1 = 0.1: k = 3 gives 0.9 / 0.9; k = 2 gives 1.0, k = 4 1.2.
      {"stage 0 three times slower", {Timing(0, 1.8, 6), Timing(1, 0.6, 6)}, {0, 3, 12}},
      // The mirror: 12 - k = 3.
      {"stage 1 three times slower", {Timing(0, 0.6, 6), Timing(1, 1.8, 6)}, {0, 9, 12}},
      // Equal per-layer times: the even cut stays.
      {"equal", {Timing(0, 0.6, 6), Timing(1, 0.6, 6)}, {0, 6, 12}},
      // Per layer, not per stage: 0.8 s over 8 layers is as fast as 0.4 s
      // over 4 (timings taken under another cut), so 6/6; timings in any order.
      {"per layer", {Timing(1, 0.4, 4), Timing(0, 0.8, 8)}, {0, 6, 12}},
  };
  for (const Case& k : cases) {
    auto plan = Plan(m, current, Same(2, Fast()), Auto(), k.timings);
    ASSERT_TRUE(plan.ok()) << k.name << ": " << plan.status();
    EXPECT_EQ(StageStarts(*plan), k.want) << k.name;
  }
}

// Three stages, t = 0.1, 0.1, 0.2 over 12 layers: a = b = 2c at c = 2.4;
// c = 2 with 5/5 gives 0.5 (c = 3 gives 0.6, 4/6 gives 0.6): 5/5/2.
TEST(PlanFromSpecTest, AutoWithThreeStages) {
  ModelConfig c = GqaConfig();
  c.n_layers = 12;
  const ModelTensors m = F32(c);
  const proto::ShardPlan current = StartupPlan(m, 1, 3);
  auto plan = Plan(m, current, Same(3, Fast()), Auto(), {Timing(0, 0.4, 4), Timing(1, 0.4, 4), Timing(2, 0.8, 4)});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(StageStarts(*plan), (std::vector<int64_t>{0, 5, 10, 12}));
}

// Stage 1 (100,000,000 bytes) fits 8 layers and the output (92,260,352
// bytes) but not 9 (103,536,640): the ideal cut 3 is out of reach, and of
// k >= 4 the best is 4 (1.2 s against 1.5 s for 5).
TEST(PlanFromSpecTest, AutoTakesTheBestCutThatFitsMemory) {
  ModelConfig c = GqaConfig();
  c.n_layers = 12;
  const ModelTensors m = F32(c);
  const proto::ShardPlan current = StartupPlan(m, 1, 2);
  auto plan = Plan(m, current, {Fast(), Fast(20, 100'000'000)}, Auto(), {Timing(0, 1.8, 6), Timing(1, 0.6, 6)});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(StageStarts(*plan), (std::vector<int64_t>{0, 4, 12}));
}

// auto moves only cut points: shares set by an earlier spec stay.
TEST(PlanFromSpecTest, AutoKeepsTheTensorShares) {
  const ModelTensors m = F32(MhaConfig());
  auto shared = Plan(m, StartupPlan(m, 2, 2), Same(4, Fast()), Shared({3, 1}));
  ASSERT_TRUE(shared.ok()) << shared.status();
  auto plan = Plan(m, *shared, Same(4, Fast()), Auto(), {Timing(0, 0.1, 3), Timing(1, 0.3, 3)});
  ASSERT_TRUE(plan.ok()) << plan.status();
  // t = 1/30 and 1/10: k = 5 gives max(5/30, 1/10) = 0.17, k = 4 0.2.
  EXPECT_EQ(StageStarts(*plan), (std::vector<int64_t>{0, 5, 6}));
  for (int r = 0; r < 4; ++r) EXPECT_EQ(Ranges(plan->ranks(r)), Ranges(shared->ranks(r))) << r;
}

TEST(PlanFromSpecTest, BadSpecsAreInvalidArguments) {
  const ModelTensors m = F32(GqaConfig());
  const proto::ShardPlan current = StartupPlan(m, 2, 2);  // layers 3/3
  const std::vector<proto::StageTiming> good = {Timing(0, 0.3, 3), Timing(1, 0.3, 3)};
  PlanSpecInput auto_bounds = Auto(), auto_shares = Auto();
  auto_bounds.layer_bounds = {0, 3, 6};
  auto_shares.tp_shares = {1, 1};
  struct Case {
    const char* name;
    PlanSpecInput spec;
    std::vector<proto::StageTiming> timings;
    const char* says;
  };
  const Case cases[] = {
      {"empty", PlanSpecInput{}, good, "the plan spec is empty"},
      {"auto with bounds", auto_bounds, good, "auto balance goes alone"},
      {"auto with shares", auto_shares, good, "auto balance goes alone"},
      {"too few bounds", Bounded({0, 6}), good, "2 cut points given but a group of 2 stages needs 3"},
      {"too many bounds", Bounded({0, 2, 4, 6}), good, "4 cut points given"},
      {"not from 0", Bounded({1, 3, 6}), good, "must start at 0, not 1"},
      {"not to n_layers", Bounded({0, 3, 5}), good, "must end at 6 (the model's layers), not 5"},
      {"beyond n_layers", Bounded({0, 3, 7}), good, "must end at 6"},
      {"an empty stage", Bounded({0, 0, 6}), good, "stage 0 would hold [0, 0)"},
      {"decreasing", Bounded({0, 7, 6}), good, "stage 1 would hold [7, 6)"},
      {"too few shares", Shared({1}), good, "1 given but each stage has 2 tensor ranks"},
      {"too many shares", Shared({1, 1, 1}), good, "3 given"},
      {"zero share", Shared({1, 0}), good, "tensor share 0 of tp rank 1 is not a positive number"},
      {"negative share", Shared({-1, 1}), good, "tensor share -1 of tp rank 0"},
      {"nan share", Shared({1, std::nan("")}), good, "of tp rank 1 is not a positive number"},
      {"no timings", Auto(), {}, "stages 0, 1 have run no steps"},
      {"one stage without steps", Auto(), {Timing(0, 0.3, 3), Timing(1, 0.0, 3, 0)}, "stage 1 has run no steps"},
      {"one stage missing", Auto(), {Timing(1, 0.3, 3)}, "stage 0 has run no steps"},
      {"stage out of range", Auto(), {Timing(0, 0.3, 3), Timing(2, 0.3, 3)}, "timings for stage 2"},
      {"twice", Auto(), {Timing(0, 0.3, 3), Timing(0, 0.3, 3)}, "two step timings for stage 0"},
      {"no layers", Auto(), {Timing(0, 0.3, 0), Timing(1, 0.3, 3)}, "it held 0 layers"},
      {"zero time", Auto(), {Timing(0, 0.0, 3), Timing(1, 0.3, 3)}, "mean step time 0 s"},
  };
  for (const Case& c : cases) {
    auto plan = Plan(m, current, Same(4, Fast()), c.spec, c.timings);
    ASSERT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << c.name << ": " << plan.status();
    EXPECT_NE(plan.status().message().find(c.says), std::string::npos) << c.name << ": " << plan.status();
  }
}

TEST(PlanFromSpecTest, BadGroupsAreInvalidArguments) {
  const ModelTensors m = F32(GqaConfig());
  const proto::ShardPlan current = StartupPlan(m, 1, 2);
  auto few = Plan(m, current, Same(1, Fast()), Bounded({0, 3, 6}));
  EXPECT_EQ(few.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(few.status().message().find("2 ranks but 1 device profiles"), std::string::npos) << few.status();

  ModelConfig other = GqaConfig();
  other.n_layers = 4;
  auto mismatch = Plan(F32(other), current, Same(2, Fast()), Bounded({0, 2, 4}));
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(mismatch.status().message().find("the group's current plan does not fit this model"), std::string::npos)
      << mismatch.status();
}

// Stage 0 with 50,000,000 bytes holds 4 layers and the embedding
// (47,153,152) but not 5 (58,429,440: 8,429,440 short).
TEST(PlanFromSpecTest, ASpecThatDoesNotFitNamesTheRank) {
  const ModelTensors m = F32(GqaConfig());
  const proto::ShardPlan current = StartupPlan(m, 1, 2);
  const std::vector<proto::DeviceProfile> small = {Device("small", 50'000'000, 1e6, 20), Fast()};
  EXPECT_TRUE(Plan(m, current, small, Bounded({0, 4, 6})).ok());
  auto plan = Plan(m, current, small, Bounded({0, 5, 6}));
  ASSERT_EQ(plan.status().code(), absl::StatusCode::kResourceExhausted) << plan.status();
  const std::string msg(plan.status().message());
  EXPECT_NE(msg.find("rank 0 (stage 0, tp 0, small)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(8429440 bytes) short with the layer bounds 0, 5, 6"), std::string::npos) << msg;

  // MHA tp 2, 1:1 fits rank 1 (tiny, 40 MiB = 41,943,040 bytes): 6 layer
  // halves of 6,426,624 + 500 embedding and output rows (1,024,000 each)
  // + the output norm = 40,609,792 bytes; 1:3 gives it 6 heads of 8.
  const ModelTensors mha = F32(MhaConfig());
  const proto::ShardPlan tp2 = StartupPlan(mha, 2, 1);
  const std::vector<proto::DeviceProfile> tiny = {Fast(), Device("tiny", 40 * testing::kMiB, 1e6, 20)};
  EXPECT_TRUE(Plan(mha, tp2, tiny, Shared({1, 1})).ok());
  auto shares = Plan(mha, tp2, tiny, Shared({1, 3}));
  ASSERT_EQ(shares.status().code(), absl::StatusCode::kResourceExhausted) << shares.status();
  EXPECT_NE(shares.status().message().find("rank 1 (stage 0, tp 1, tiny)"), std::string::npos) << shares.status();
  EXPECT_NE(shares.status().message().find("with the tensor shares 1:3"), std::string::npos) << shares.status();

  // auto: no cut fits (each stage 30,000,000 bytes < 3 layers): the least
  // shortfall of every split, named as Partition names it.
  auto none = Plan(m, current, Same(2, Device("small", 30'000'000, 1e6, 20)), Auto(),
                   {Timing(0, 0.3, 3), Timing(1, 0.3, 3)});
  ASSERT_EQ(none.status().code(), absl::StatusCode::kResourceExhausted) << none.status();
  EXPECT_NE(none.status().message().find("least shortfall of every layer split"), std::string::npos) << none.status();
}

}  // namespace
}  // namespace tessera
