// Plans worked out by hand from the cost model's formulas. GqaConfig in f32:
//   layer  = 2,818,048 matrix elements * 4 + norms 4096 = 11,276,288 bytes (L)
//   embedding = 1000 * 512 * 4 = 2,048,000 bytes; one looked-up row 2048
//   output = norm 2048 + 2,048,000 = 2,050,048 bytes (~0.18 L)
//   KV per layer and position: 2 * 2 heads * 64 * 4 = 1024 bytes
// Devices are memory-bound (compute 1e6 GFLOP/s) unless said otherwise, so a
// rank's time is the bytes it streams over its bandwidth, plus messages of
// 2048 bytes at 5 us + 2048 / 10 GB/s each.
#include <string>

#include "gtest/gtest.h"
#include "partition/partitioner.h"
#include "partition_test_util.h"

namespace tessera {
namespace {

using testing::Device;
using testing::Fast;
using testing::GqaConfig;
using testing::kGiB;
using testing::kMiB;
using testing::MhaConfig;
using testing::Same;
using testing::StageStarts;

constexpr int64_t kLayer = 11'276'288;
constexpr int64_t kEmbedding = 2'048'000;
constexpr int64_t kOutput = 2'050'048;
constexpr double kMessage = 5e-6 + 2048 / 10e9;

PartitionRequest Request(const ModelConfig& c, int tp, int pp, std::vector<proto::DeviceProfile> profiles) {
  PartitionRequest r;
  r.model = UniformModel(c, DType::kF32, DType::kF32);
  r.tp = tp;
  r.pp = pp;
  r.profiles = std::move(profiles);
  return r;
}

TEST(PartitionCasesTest, OneRankStepTimeByHand) {
  auto plan = Partition(Request(GqaConfig(), 1, 1, {Fast()}));
  ASSERT_TRUE(plan.ok()) << plan.status();
  const proto::RankShard& r = plan->ranks(0);
  EXPECT_EQ(r.weight_bytes(), 6 * kLayer + kEmbedding + kOutput);
  EXPECT_DOUBLE_EQ(r.predicted_step_seconds(), (6.0 * kLayer + 2048 + kOutput) / 20e9);
  EXPECT_DOUBLE_EQ(plan->predicted_step_seconds(), r.predicted_step_seconds());
  EXPECT_EQ(plan->predicted_comm_bytes_per_token(), 0);
}

// Stage 0 holds k layers and the embedding, stage 1 the rest and the output
// (~0.18 L): k = 3 gives 3 L vs 3.18 L, k = 4 gives 4 L: 3/3.
TEST(PartitionCasesTest, EqualDevicesSplitSixLayersThreeThree) {
  auto plan = Partition(Request(GqaConfig(), 1, 2, Same(2, Fast())));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(StageStarts(*plan), (std::vector<int64_t>{0, 3, 6}));
  const double stage0 = (3.0 * kLayer + 2048) / 20e9 + kMessage;  // plus the send to stage 1
  const double stage1 = (3.0 * kLayer + kOutput) / 20e9;
  EXPECT_DOUBLE_EQ(plan->ranks(0).predicted_step_seconds(), stage0);
  EXPECT_DOUBLE_EQ(plan->ranks(1).predicted_step_seconds(), stage1);
  EXPECT_DOUBLE_EQ(plan->predicted_step_seconds(), stage0 + stage1);
  EXPECT_EQ(plan->predicted_comm_bytes_per_token(), 2048);
}

// With 12,000 tokens the output is 24,578,048 bytes (~2.18 L): k = 3 gives
// 3 L vs 5.18 L, k = 4 gives 4 L vs 4.18 L, k = 5 gives 5 L: 4/2.
TEST(PartitionCasesTest, ABigOutputMovesLayersToTheFirstStage) {
  ModelConfig c = GqaConfig();
  c.vocab_size = 12'000;
  auto plan = Partition(Request(c, 1, 2, Same(2, Fast())));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(StageStarts(*plan), (std::vector<int64_t>{0, 4, 6}));
}

// Stage 0 twice as fast: k layers take k/2; stage 1 (6 - k) + 0.18.
// k = 4: 2 vs 2.18; k = 5: 2.5: 4/2. With 12 layers, k = 8: 4 vs 4.18: 8/4.
// Stage 1 twice as fast: k = 2: 2 vs 2.09; k = 3: 3: 2/4.
TEST(PartitionCasesTest, ATwiceFasterDeviceGetsTwiceTheLayers) {
  struct Case {
    int64_t layers;
    double gbs0, gbs1;
    std::vector<int64_t> want;
  };
  const Case cases[] = {{6, 40, 20, {0, 4, 6}}, {12, 40, 20, {0, 8, 12}}, {6, 20, 40, {0, 2, 6}}};
  for (const Case& k : cases) {
    ModelConfig c = GqaConfig();
    c.n_layers = k.layers;
    auto plan = Partition(Request(c, 1, 2, {Fast(k.gbs0), Fast(k.gbs1)}));
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(StageStarts(*plan), k.want) << k.layers << " layers, " << k.gbs0 << " vs " << k.gbs1;
  }
}

// Three stages on equal devices: 2/2/2 (the output makes stage 2 2.18 L; no
// split of 6 layers beats it).
TEST(PartitionCasesTest, ThreeStages) {
  auto plan = Partition(Request(GqaConfig(), 1, 3, Same(3, Fast())));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(StageStarts(*plan), (std::vector<int64_t>{0, 2, 4, 6}));
}

// Stage 0 fits 2 layers and the embedding (24,600,576 bytes) in 25,000,000
// bytes but not 3: memory overrides the 3/3 balance.
TEST(PartitionCasesTest, MemoryLimitsTheSplit) {
  auto plan = Partition(Request(GqaConfig(), 1, 2, {Fast(20, 25'000'000), Fast()}));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(StageStarts(*plan), (std::vector<int64_t>{0, 2, 6}));
  EXPECT_EQ(plan->ranks(0).weight_bytes(), 2 * kLayer + kEmbedding);
}

// MHA (8 KV heads): rank 0 three times as fast gets 6 of 8 heads, 1056 of
// 1408 FFN columns and 750 of 1000 vocabulary rows.
TEST(PartitionCasesTest, AThreeTimesFasterTensorRankGetsThreeQuarters) {
  for (DType type : {DType::kF32, DType::kQ8_0}) {
    PartitionRequest r = Request(MhaConfig(), 2, 1, {Device("a", 4 * kGiB, 300, 60), Device("b", 4 * kGiB, 100, 20)});
    r.model = UniformModel(MhaConfig(), type, type);
    auto plan = Partition(r);
    ASSERT_TRUE(plan.ok()) << plan.status();
    const proto::RankShard& fast = plan->ranks(0);
    EXPECT_EQ(fast.q_heads().end(), 6);
    EXPECT_EQ(fast.kv_heads().end(), 6);
    EXPECT_EQ(fast.ffn().end(), 1056);  // also 33 of 44 q8_0 blocks
    EXPECT_EQ(fast.vocab().end(), 750);
    EXPECT_EQ(plan->ranks(1).q_heads().begin(), 6);
    // Shares proportional to speed: both ranks take about as long.
    EXPECT_NEAR(fast.predicted_step_seconds() / plan->ranks(1).predicted_step_seconds(), 1.0, 0.05);
  }
}

// GQA with 2 KV heads on 2 ranks: each must own one KV head (4 query heads)
// whatever the speeds, so the FFN makes up for it: 1163 of 1408 columns for
// the 3x rank (worked out in tensor_split_test), and both finish together.
TEST(PartitionCasesTest, FfnColumnsMakeUpForWholeKvHeads) {
  auto plan = Partition(Request(GqaConfig(), 2, 1, {Device("a", 4 * kGiB, 1e6, 60), Device("b", 4 * kGiB, 1e6, 20)}));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->ranks(0).q_heads().end(), 4);
  EXPECT_EQ(plan->ranks(0).kv_heads().end(), 1);
  EXPECT_EQ(plan->ranks(0).ffn().end(), 1163);
  EXPECT_NEAR(plan->ranks(0).predicted_step_seconds() / plan->ranks(1).predicted_step_seconds(), 1.0, 0.05);
}

// 8 query heads over 2 KV heads on 3 ranks: heads 3/3/2; KV head 0 on ranks
// 0 and 1, KV head 1 on ranks 1 and 2.
TEST(PartitionCasesTest, ThreeRanksOnTwoKvHeadsReplicate) {
  auto plan = Partition(Request(GqaConfig(), 3, 1, Same(3, Fast())));
  ASSERT_TRUE(plan.ok()) << plan.status();
  const int64_t want[3][4] = {{0, 3, 0, 1}, {3, 6, 0, 2}, {6, 8, 1, 2}};
  for (int t = 0; t < 3; ++t) {
    const proto::RankShard& r = plan->ranks(t);
    EXPECT_EQ(r.q_heads().begin(), want[t][0]);
    EXPECT_EQ(r.q_heads().end(), want[t][1]);
    EXPECT_EQ(r.kv_heads().begin(), want[t][2]);
    EXPECT_EQ(r.kv_heads().end(), want[t][3]);
  }
  // 13 all-reduces (2 per layer and the embedding's) of 2048 bytes, each
  // sending 2 * (3 - 1) * 2048 bytes in a ring.
  EXPECT_EQ(plan->predicted_comm_bytes_per_token(), 13 * 4 * 2048);
}

// Two stages of 32 MiB with 256 KV positions (256 KiB per layer): the best
// split is 3/3 and stage 1 is the shorter of memory: 3 (L + 262,144) +
// output = 36,665,344 bytes against 33,554,432: 3,110,912 short.
TEST(PartitionCasesTest, InfeasibleNamesTheRankAndShortfall) {
  PartitionRequest r = Request(GqaConfig(), 1, 2, Same(2, Device("small", 32 * kMiB, 100, 20)));
  r.kv_tokens = 256;
  auto plan = Partition(r);
  ASSERT_EQ(plan.status().code(), absl::StatusCode::kResourceExhausted) << plan.status();
  const std::string msg(plan.status().message());
  EXPECT_NE(msg.find("rank 1 (stage 1, tp 0, small) needs 34.97 MiB (weights 34.22 MiB + KV 768.00 KiB) "
                     "but has 32.00 MiB: 2.97 MiB (3110912 bytes) short"),
            std::string::npos)
      << msg;
}

// tp 2, rank 1 has 32 MiB: its half (1 KV head, 4 query heads, 704 FFN
// columns, 500 vocabulary rows) is 6 * 5,640,192 + 1,024,000 + 2048 +
// 1,024,000 = 35,891,200 bytes: 2,336,768 short.
TEST(PartitionCasesTest, InfeasibleNamesTheTensorRank) {
  auto plan = Partition(Request(GqaConfig(), 2, 1, {Fast(), Device("tiny", 32 * kMiB, 1e6, 20)}));
  ASSERT_EQ(plan.status().code(), absl::StatusCode::kResourceExhausted) << plan.status();
  const std::string msg(plan.status().message());
  EXPECT_NE(msg.find("rank 1 (stage 0, tp 1, tiny)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(2336768 bytes) short"), std::string::npos) << msg;
}

TEST(PartitionCasesTest, BadShapesAreInvalidArguments) {
  struct Case {
    int tp, pp, profiles;
    const char* says;
  };
  const Case cases[] = {{1, 7, 7, "pp 7 exceeds the model's 6 layers"},
                        {0, 1, 0, "tp and pp must be at least 1"},
                        {1, 0, 0, "tp and pp must be at least 1"},
                        {2, 2, 3, "4 ranks but 3 device profiles"}};
  for (const Case& c : cases) {
    auto plan = Partition(Request(GqaConfig(), c.tp, c.pp, Same(c.profiles, Fast())));
    ASSERT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << c.says;
    EXPECT_NE(plan.status().message().find(c.says), std::string::npos) << plan.status();
  }
  PartitionRequest zero = Request(GqaConfig(), 1, 1, {Device("zero", 0, 1, 1)});
  EXPECT_EQ(Partition(zero).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PartitionCasesTest, TheSameInputsGiveTheSamePlan) {
  PartitionRequest r = Request(GqaConfig(), 3, 2, {});
  for (int i = 0; i < 6; ++i) r.profiles.push_back(Device("d", 4 * kGiB, 100 + 37 * i, 10 + 3 * i));
  auto a = Partition(r), b = Partition(r);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->SerializeAsString(), b->SerializeAsString());
}

TEST(PartitionCasesTest, FormatPlanListsEveryRank) {
  PartitionRequest r = Request(GqaConfig(), 3, 2, Same(6, Fast()));
  r.kv_tokens = 256;
  auto plan = Partition(r);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const std::string table = FormatPlan(*plan);
  EXPECT_NE(table.find("weights MiB"), std::string::npos) << table;
  EXPECT_NE(table.find("tp 3 x pp 2 = 6 ranks"), std::string::npos) << table;
  int lines = 0;
  for (char ch : table) lines += ch == '\n';
  EXPECT_EQ(lines, 1 + 6 + 1) << table;
}

}  // namespace
}  // namespace tessera
