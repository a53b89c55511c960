// Slicing a model for one rank: the slices hold exactly the whole model's
// rows and columns (checked element by element), and ranges that cannot be
// sliced are refused with a message.
#include <cstring>

#include "gtest/gtest.h"
#include "tests/unit/worker/test_model.h"
#include "worker/shard.h"

namespace tessera::testing {
namespace {

ModelSpec Spec(DType type) {
  ModelSpec s;
  s.n_layers = 3;
  s.dim = 128;
  s.n_heads = 4;
  s.n_kv_heads = 2;
  s.ffn_dim = 128;
  s.vocab_size = 300;
  s.type = type;
  return s;
}

TEST(ShardTest, SlicesAreTheWholeModelsRowsAndColumns) {
  for (DType type : {DType::kF32, DType::kQ8_0}) {
    auto model = MakeTestModel(Spec(type));
    ASSERT_NE(model, nullptr);
    const ModelConfig& c = model->config;
    // Query heads [1, 3) read kv heads [0, 2) (group 2); FFN [32, 96).
    const ShardRanges r{1, 3, 1, 3, 0, 2, 32, 96, 100, 200};
    auto shard = MakeShard(*model, r);
    ASSERT_TRUE(shard.ok()) << shard.status();
    const Shard& s = **shard;
    EXPECT_FALSE(s.first_stage());
    EXPECT_TRUE(s.last_stage());
    ASSERT_EQ(s.weights.layers.size(), 2u);
    EXPECT_EQ(s.weights.token_embd.rows, 0);  // not the first stage
    EXPECT_EQ(s.weights.output.rows, 100);
    EXPECT_EQ(s.weights.output.data, model->weights.output.Row(100));
    for (int64_t l = 0; l < 2; ++l) {
      const LayerWeights& whole = model->weights.layers[static_cast<size_t>(l + 1)];
      const LayerWeights& part = s.weights.layers[static_cast<size_t>(l)];
      EXPECT_EQ(part.wq.rows, 2 * c.head_dim);
      EXPECT_EQ(part.wq.data, whole.wq.Row(c.head_dim));
      EXPECT_EQ(part.wk.rows, 2 * c.head_dim);
      EXPECT_EQ(part.w_gate.data, whole.w_gate.Row(32));
      EXPECT_EQ(part.w_up.rows, 64);
      // Column slices: row r of the copy is bytes [offset, offset + width) of row r.
      const int64_t block = BlockElems(type), bb = BlockBytes(type);
      ASSERT_EQ(part.wo.cols, 2 * c.head_dim);
      ASSERT_EQ(part.w_down.cols, 64);
      for (int64_t row = 0; row < c.dim; ++row) {
        ASSERT_EQ(std::memcmp(part.wo.Row(row), whole.wo.Row(row) + c.head_dim / block * bb, part.wo.row_bytes), 0);
        ASSERT_EQ(std::memcmp(part.w_down.Row(row), whole.w_down.Row(row) + 32 / block * bb, part.w_down.row_bytes),
                  0);
      }
    }
    // By hand: per layer 5 row slices of 64 rows of width 128 (q, k, v, gate,
    // up), 2 column slices of 128 rows of width 64 (wo, down), 2 norms; then
    // 100 output rows and the output norm.
    auto row = [&](int64_t cols) { return cols / BlockElems(type) * BlockBytes(type); };
    const int64_t per_layer = 5 * 64 * row(128) + 2 * 128 * row(64) + 2 * 128 * 4;
    EXPECT_EQ(s.owned_bytes, 2 * 2 * 128 * row(64));
    EXPECT_EQ(s.weight_bytes, 2 * per_layer + 100 * row(128) + 128 * 4);
  }
}

TEST(ShardTest, RefusesRangesItCannotSlice) {
  auto q8 = MakeTestModel(Spec(DType::kQ8_0));
  ASSERT_NE(q8, nullptr);
  struct Bad {
    ShardRanges r;
    const char* message;
  };
  const Bad cases[] = {
      {{0, 4, 0, 4, 0, 2, 0, 128, 0, 300}, "layer range [0, 4)"},
      {{1, 1, 0, 4, 0, 2, 0, 128, 0, 300}, "at least one layer"},
      {{0, 3, 0, 4, 0, 2, 0, 128, 0, 301}, "vocabulary range"},
      {{0, 3, 1, 3, 1, 2, 0, 128, 0, 300}, "read kv heads [0, 2)"},
      {{0, 3, 0, 0, 0, 1, 0, 128, 0, 300}, "without query heads"},
      {{0, 3, 0, 4, 0, 2, 16, 128, 0, 300}, "ffn_down: columns [16, 128)"},
  };
  for (const Bad& b : cases) {
    auto shard = MakeShard(*q8, b.r);
    ASSERT_FALSE(shard.ok()) << b.r.DebugString();
    EXPECT_NE(shard.status().message().find(b.message), std::string::npos) << shard.status();
  }
}

}  // namespace
}  // namespace tessera::testing
