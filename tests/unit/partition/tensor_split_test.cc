#include "partition/tensor_split.h"

#include <vector>

#include "gtest/gtest.h"
#include "partition_test_util.h"

namespace tessera {
namespace {

struct ApportionCase {
  int64_t units;
  std::vector<double> weights;
  int64_t min_each;
  std::vector<int64_t> want;
};

TEST(ApportionTest, LargestRemaindersFromATable) {
  const ApportionCase cases[] = {
      {10, {1, 1, 1}, 0, {4, 3, 3}},        // remainders tie: the lower rank first
      {8, {1, 1, 1}, 0, {3, 3, 2}},
      {8, {3, 1}, 0, {6, 2}},
      {8, {3, 1}, 1, {6, 2}},
      {2, {1, 1, 1}, 0, {1, 1, 0}},         // fewer units than ranks: the last go empty
      {2, {1, 100}, 1, {1, 1}},             // the minimum wins over the proportion
      {4, {1, 100, 1}, 1, {1, 2, 1}},
      {0, {1, 1}, 0, {0, 0}},
      {7, {1}, 0, {7}},
      {100, {1, 2, 3, 4}, 0, {10, 20, 30, 40}},
      {10, {1, 2, 3, 4}, 0, {1, 2, 3, 4}},
      {11, {1, 2, 3, 4}, 0, {1, 2, 3, 5}},  // quotas 1.1 2.2 3.3 4.4: the largest remainder is 4.4
      {5, {1, 1, 1, 1, 1, 1, 1}, 0, {1, 1, 1, 1, 1, 0, 0}},
  };
  for (const ApportionCase& c : cases) {
    const std::vector<int64_t> got = Apportion(c.units, c.weights, c.min_each);
    EXPECT_EQ(got, c.want) << c.units << " units, min " << c.min_each;
  }
}

TEST(SplitRangeTest, CutsAtUnitsAndEndsAtN) {
  // 100 elements in units of 32: 4 units (the last one short), 2 + 2.
  std::vector<Span> got = SplitRange(100, 32, {1, 1}, 0);
  EXPECT_EQ(got, (std::vector<Span>{{0, 64}, {64, 100}}));
  got = SplitRange(100, 32, {1, 1, 1, 1, 1}, 0);
  EXPECT_EQ(got, (std::vector<Span>{{0, 32}, {32, 64}, {64, 96}, {96, 100}, {100, 100}}));
  got = SplitRange(1000, 1, {3, 1}, 0);
  EXPECT_EQ(got, (std::vector<Span>{{0, 750}, {750, 1000}}));
}

TEST(KvHeadsForTest, TheGqaRule) {
  struct Case {
    Span q;
    int64_t group;
    Span want;
  };
  const Case cases[] = {
      {{0, 3}, 4, {0, 1}}, {{3, 6}, 4, {0, 2}}, {{6, 8}, 4, {1, 2}}, {{4, 8}, 4, {1, 2}},
      {{0, 8}, 1, {0, 8}}, {{5, 5}, 4, {0, 0}}, {{8, 8}, 1, {0, 0}}, {{7, 8}, 2, {3, 4}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(KvHeadsFor(c.q, c.group), c.want) << c.q.begin << "-" << c.q.end << " group " << c.group;
  }
}

TEST(HeadUnitTest, QuantizedWoNeedsWholeBlocks) {
  using testing::GqaConfig;
  using testing::NarrowConfig;
  EXPECT_EQ(HeadUnit(UniformModel(GqaConfig(), DType::kF32, DType::kF32), 1), 1);
  EXPECT_EQ(HeadUnit(UniformModel(GqaConfig(), DType::kQ8_0, DType::kF32), 1), 1);  // 64 % 32 == 0
  EXPECT_EQ(HeadUnit(UniformModel(NarrowConfig(), DType::kQ8_0, DType::kF32), 1), 2);  // 16-wide heads
  EXPECT_EQ(HeadUnit(UniformModel(NarrowConfig(), DType::kQ8_0, DType::kF32), 2), 1);
  EXPECT_EQ(HeadUnit(UniformModel(NarrowConfig(), DType::kF16, DType::kF32), 1), 1);
  EXPECT_EQ(FfnUnit(UniformModel(GqaConfig(), DType::kQ4_0, DType::kF32)), 32);
  EXPECT_EQ(FfnUnit(UniformModel(GqaConfig(), DType::kBF16, DType::kF32)), 1);
  // One quantized layer among float ones sets the unit for all.
  ModelTensors mixed = UniformModel(NarrowConfig(), DType::kF32, DType::kF32);
  mixed.layers[3].wo.type = DType::kQ8_0;
  EXPECT_EQ(HeadUnit(mixed, 1), 2);
}

TEST(SplitStageTest, SharesFollowSpeedAndTheGqaRule) {
  using testing::GqaConfig;
  using testing::MhaConfig;
  const ModelTensors gqa = UniformModel(GqaConfig(), DType::kF32, DType::kF32);
  // tp 2 <= 2 KV heads: one KV head and its 4 query heads each, whatever the
  // speeds. The FFN makes up: attention is 327,680 elements a rank, FFN
  // 1408 * 1536, so rank 0's 3/4 of the 2,818,048 per layer leaves it
  // 1,785,856 FFN elements against rank 1's 376,832: 1162.67 and 245.33
  // columns, rounded to 1163 and 245.
  std::vector<TensorShare> s = SplitStage(gqa, {3, 1}, true);
  EXPECT_EQ(s[0].kv_heads, (Span{0, 1}));
  EXPECT_EQ(s[1].q_heads, (Span{4, 8}));
  EXPECT_EQ(s[0].ffn, (Span{0, 1163}));
  EXPECT_EQ(s[1].vocab, (Span{750, 1000}));
  // tp 3 > 2 KV heads: query heads 3/3/2, KV heads read by each (head 0 on
  // ranks 0 and 1, head 1 on ranks 1 and 2).
  s = SplitStage(gqa, {1, 1, 1}, false);
  EXPECT_EQ(s[0].q_heads, (Span{0, 3}));
  EXPECT_EQ(s[1].q_heads, (Span{3, 6}));
  EXPECT_EQ(s[2].q_heads, (Span{6, 8}));
  EXPECT_EQ(s[0].kv_heads, (Span{0, 1}));
  EXPECT_EQ(s[1].kv_heads, (Span{0, 2}));
  EXPECT_EQ(s[2].kv_heads, (Span{1, 2}));
  EXPECT_EQ(s[2].vocab, (Span{0, 0}));  // no vocabulary on a middle stage
  // MHA, rank 0 three times as fast: 6 of the 8 heads.
  s = SplitStage(UniformModel(MhaConfig(), DType::kQ8_0, DType::kQ8_0), {3, 1}, true);
  EXPECT_EQ(s[0].q_heads, (Span{0, 6}));
  EXPECT_EQ(s[0].kv_heads, (Span{0, 6}));
  EXPECT_EQ(s[0].ffn, (Span{0, 1056}));  // 44 blocks of 32: 33 and 11
}

TEST(SplitStageTest, MoreRanksThanHeads) {
  const ModelTensors m = UniformModel(testing::GqaConfig(), DType::kF32, DType::kF32);
  const std::vector<TensorShare> s = SplitStage(m, std::vector<double>(10, 1.0), true);
  int64_t with_heads = 0;
  for (const TensorShare& t : s) {
    with_heads += t.q_heads.size() > 0;
    EXPECT_LE(t.q_heads.size(), 1);
    EXPECT_EQ(t.kv_heads, KvHeadsFor(t.q_heads, 4));
    EXPECT_GT(t.ffn.size(), 0);
  }
  EXPECT_EQ(with_heads, 8);
}

}  // namespace
}  // namespace tessera
