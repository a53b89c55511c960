#include "partition/cost_model.h"

#include <memory>

#include "gtest/gtest.h"
#include "model/gguf_file.h"
#include "model/gguf_writer.h"
#include "model/model.h"
#include "model/model_maker.h"
#include "partition_test_util.h"

namespace tessera {
namespace {

using testing::GqaConfig;
using testing::TiedBiasConfig;

TEST(CostModelTest, SliceAlignmentIsTheBlockSize) {
  EXPECT_EQ(SliceAlignment(DType::kF32), 1);
  EXPECT_EQ(SliceAlignment(DType::kF16), 1);
  EXPECT_EQ(SliceAlignment(DType::kBF16), 1);
  EXPECT_EQ(SliceAlignment(DType::kQ8_0), 32);
  EXPECT_EQ(SliceAlignment(DType::kQ4_0), 32);
}

TEST(CostModelTest, SliceBytes) {
  EXPECT_EQ(SliceBytes(DType::kF32, 3, 10), 120);
  EXPECT_EQ(SliceBytes(DType::kQ8_0, 2, 64), 2 * 2 * 34);
  EXPECT_EQ(SliceBytes(DType::kQ4_0, 1, 32), 18);
  EXPECT_EQ(SliceBytes(DType::kQ8_0, 1, 33), 2 * 34);  // no plan cuts there: whole blocks
  EXPECT_EQ(SliceBytes(DType::kF32, 0, 10), 0);
  EXPECT_EQ(SliceBytes(DType::kF32, 10, 0), 0);
}

// Hand-computed for GqaConfig (dim 512, q_dim 512, kv_dim 128, FFN 1408):
// matrix elements wq 512*512 + wk, wv 2*128*512 + wo 512*512 + gate, up,
// down 3*1408*512 = 2,818,048, plus the two f32 norms 2*512*4 = 4096 bytes.
TEST(CostModelTest, FullLayerBytesByHand) {
  const LayerSlice all{8, 2, 1408};
  const ModelTensors f32 = UniformModel(GqaConfig(), DType::kF32, DType::kF32);
  EXPECT_EQ(LayerWeightBytes(f32, 0, all), 2'818'048 * 4 + 4096);
  const ModelTensors q8 = UniformModel(GqaConfig(), DType::kQ8_0, DType::kQ8_0);
  EXPECT_EQ(LayerWeightBytes(q8, 0, all), 2'818'048 / 32 * 34 + 4096);
}

TEST(CostModelTest, SliceBytesByHand) {
  // One KV head, 4 query heads, 704 FFN columns: wq 256 rows, wk/wv 64 rows,
  // wo 256 columns, gate/up 704 rows, down 704 columns (all of width 512).
  const ModelTensors m = UniformModel(GqaConfig(), DType::kF32, DType::kF32);
  const int64_t elems = 256 * 512 + 2 * 64 * 512 + 512 * 256 + 3 * 704 * 512;
  EXPECT_EQ(LayerWeightBytes(m, 3, {4, 1, 704}), elems * 4 + 4096);
  // An empty share still normalises its input: the norms alone.
  EXPECT_EQ(LayerWeightBytes(m, 3, {0, 0, 0}), 4096);
}

TEST(CostModelTest, BiasesFollowTheHeads) {
  // 8 query heads and 4 KV heads of 64: bq 512 + bk, bv 2*256 floats.
  const ModelTensors m = UniformModel(TiedBiasConfig(), DType::kF32, DType::kF32);
  const int64_t elems = 512 * 512 + 2 * 256 * 512 + 512 * 512 + 3 * 1408 * 512;
  EXPECT_EQ(LayerWeightBytes(m, 0, {8, 4, 1408}), elems * 4 + (512 + 512) * 4 + 4096);
  // Two query heads of one KV head: bq 128 + bk, bv 2*64 floats.
  const int64_t half = 128 * 512 + 2 * 64 * 512 + 512 * 128;
  EXPECT_EQ(LayerWeightBytes(m, 0, {2, 1, 0}), half * 4 + (128 + 128) * 4 + 4096);
}

TEST(CostModelTest, FlopsAndKvByHand) {
  const ModelTensors m = UniformModel(GqaConfig(), DType::kQ8_0, DType::kF32);
  // 2 * 2,818,048 multiply-adds + attention 4 * 512 * 256 / 2.
  EXPECT_DOUBLE_EQ(LayerFlopsPerToken(m, 0, {8, 2, 1408}, 256), 2.0 * 2'818'048 + 262'144);
  EXPECT_DOUBLE_EQ(LayerFlopsPerToken(m, 0, {8, 2, 1408}, 0), 2.0 * 2'818'048);
  EXPECT_EQ(LayerKvBytesPerToken(m.config, {8, 2, 1408}), 2 * 2 * 64 * 4);
  EXPECT_EQ(LayerKvBytesPerToken(m.config, {4, 1, 0}), 2 * 1 * 64 * 4);
  EXPECT_EQ(LayerKvBytesPerToken(m.config, {0, 0, 0}), 0);
}

TEST(CostModelTest, EmbeddingAndOutputByHand) {
  const ModelTensors m = UniformModel(GqaConfig(), DType::kF32, DType::kQ8_0);
  EXPECT_EQ(m.token_embd.type, DType::kQ8_0);
  EXPECT_EQ(EmbeddingBytes(m, 100), 100 * 16 * 34);
  EXPECT_EQ(OutputBytes(m, 100), 512 * 4 + 100 * 16 * 34);
  EXPECT_EQ(OutputBytes(m, 0), 512 * 4);
  EXPECT_DOUBLE_EQ(OutputFlopsPerToken(m, 100), 2.0 * 100 * 512);
}

// DescribeModel against a real file: ModelWeightBytes must be every tensor's
// bytes, counted by the GGUF reader (not by the cost model).
struct DescribeCase {
  const char* name;
  DType type;
  Arch arch;
  bool tied;
};

class DescribeModelTest : public ::testing::TestWithParam<DescribeCase> {};

TEST_P(DescribeModelTest, ModelBytesMatchTheFile) {
  const DescribeCase& c = GetParam();
  auto spec = PresetSpec("tiny");
  ASSERT_TRUE(spec.ok());
  spec->type = c.type;
  spec->arch = c.arch;
  spec->tied_output = c.tied;
  GgufWriter writer;
  ASSERT_TRUE(BuildModel(*spec, writer).ok());
  auto bytes = writer.Serialize();
  ASSERT_TRUE(bytes.ok());
  auto file = GgufFile::FromBytes(*std::move(bytes));
  ASSERT_TRUE(file.ok());
  auto model = LoadModel(*std::move(file));
  ASSERT_TRUE(model.ok()) << model.status();

  const ModelTensors m = DescribeModel((*model)->config, (*model)->weights);
  ASSERT_EQ(m.layers.size(), static_cast<size_t>(spec->n_layers));
  EXPECT_EQ(m.layers[0].wq.type, c.type);
  EXPECT_EQ(m.layers[0].wo.rows, spec->dim);
  EXPECT_EQ(m.layers[0].wo.cols, spec->dim);  // q_dim == dim in the presets
  EXPECT_EQ(m.layers[0].down.cols, spec->ffn_dim);
  EXPECT_EQ(m.token_embd.rows, spec->vocab_size);
  int64_t file_bytes = 0;
  for (const GgufTensorInfo& t : (*model)->file->tensors()) file_bytes += t.n_bytes;
  EXPECT_EQ(ModelWeightBytes(m), file_bytes);
}

INSTANTIATE_TEST_SUITE_P(Models, DescribeModelTest,
                         ::testing::Values(DescribeCase{"f32", DType::kF32, Arch::kLlama, false},
                                           DescribeCase{"q8_0", DType::kQ8_0, Arch::kLlama, false},
                                           DescribeCase{"q4_0", DType::kQ4_0, Arch::kLlama, false},
                                           DescribeCase{"f16_tied", DType::kF16, Arch::kLlama, true},
                                           DescribeCase{"q8_0_qwen2", DType::kQ8_0, Arch::kQwen2, false},
                                           DescribeCase{"f32_qwen2_tied", DType::kF32, Arch::kQwen2, true}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace tessera
