// Every (tp, pp) shape of a table on every model of a table, f32 and q8_0,
// with equal and with unequal devices: the plan must validate, tile every
// dimension, follow the GQA rule, cut quantized columns on block boundaries,
// fit memory, and hold exactly the model's bytes plus what is replicated
// (counted here from element counts, not with the cost model).
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "partition/partitioner.h"
#include "partition_test_util.h"

namespace tessera {
namespace {

using testing::Device;
using testing::kGiB;

struct Shape {
  int tp, pp;
};
const Shape kShapes[] = {{1, 1}, {2, 1}, {1, 2}, {2, 2}, {3, 1}, {3, 2},
                         {1, 3}, {4, 1}, {5, 1}, {6, 1}, {7, 2}};

struct ConfigCase {
  const char* name;
  ModelConfig (*make)();
};
const ConfigCase kConfigs[] = {{"gqa", testing::GqaConfig},
                               {"mha", testing::MhaConfig},
                               {"narrow", testing::NarrowConfig},
                               {"tied_bias", testing::TiedBiasConfig}};

using Param = std::tuple<Shape, ConfigCase, DType, bool /*unequal devices*/>;

// Bytes of a rows x cols matrix whose cols are whole blocks.
int64_t MatBytes(DType t, int64_t rows, int64_t cols) {
  return rows * cols / BlockElems(t) * BlockBytes(t);
}

class PartitionShapesTest : public ::testing::TestWithParam<Param> {};

TEST_P(PartitionShapesTest, Invariants) {
  const auto& [shape, config_case, type, unequal] = GetParam();
  const ModelConfig c = config_case.make();
  const ModelTensors m = UniformModel(c, type, type);
  PartitionRequest req;
  req.model = m;
  req.tp = shape.tp;
  req.pp = shape.pp;
  req.kv_tokens = 512;
  for (int r = 0; r < shape.tp * shape.pp; ++r) {
    const double speed = unequal ? 1.0 + r % 3 : 1.0;  // 1x, 2x, 3x, 1x, ...
    req.profiles.push_back(Device("dev" + std::to_string(r), 4 * kGiB, 100 * speed, 20 * speed));
  }
  auto plan = Partition(req);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_TRUE(ValidatePlan(*plan, m).ok()) << ValidatePlan(*plan, m);
  ASSERT_EQ(plan->ranks_size(), shape.tp * shape.pp);
  EXPECT_EQ(plan->version(), kShardPlanVersion);
  EXPECT_EQ(plan->tp(), shape.tp);
  EXPECT_EQ(plan->pp(), shape.pp);
  EXPECT_EQ(plan->kv_tokens(), 512);
  EXPECT_EQ(plan->model_name(), c.name);

  const int64_t group = c.n_heads / c.n_kv_heads;
  const int64_t wo_align = BlockElems(type);
  int64_t layer_at = 0;
  int64_t kv_rows_held = 0;  // sum over ranks and layers of KV heads held
  int64_t weight_sum = 0;
  double stage_max_sum = 0;
  for (int s = 0; s < shape.pp; ++s) {
    const proto::RankShard& first = plan->ranks(s * shape.tp);
    EXPECT_EQ(first.layers().begin(), layer_at);
    EXPECT_GT(first.layers().end(), first.layers().begin());
    layer_at = first.layers().end();
    const int64_t n_layers = first.layers().end() - first.layers().begin();
    const bool vocab = s == 0 || s == shape.pp - 1;
    int64_t q_at = 0, ffn_at = 0, vocab_at = 0;
    double stage_max = 0;
    for (int t = 0; t < shape.tp; ++t) {
      const proto::RankShard& r = plan->ranks(s * shape.tp + t);
      EXPECT_EQ(r.rank(), s * shape.tp + t);
      EXPECT_EQ(r.layers().begin(), first.layers().begin());
      EXPECT_EQ(r.layers().end(), first.layers().end());
      // Tiling in tp order.
      EXPECT_EQ(r.q_heads().begin(), q_at);
      EXPECT_EQ(r.ffn().begin(), ffn_at);
      EXPECT_EQ(r.vocab().begin(), vocab_at);
      q_at = r.q_heads().end();
      ffn_at = r.ffn().end();
      vocab_at = r.vocab().end();
      // GQA: KV heads are exactly those the query heads read; with no more
      // ranks than KV heads (and whole-block heads) no KV head is shared.
      const int64_t nq = r.q_heads().end() - r.q_heads().begin();
      const int64_t nkv = r.kv_heads().end() - r.kv_heads().begin();
      if (nq == 0) {
        EXPECT_EQ(nkv, 0);
      } else {
        EXPECT_EQ(r.kv_heads().begin(), r.q_heads().begin() / group);
        EXPECT_EQ(r.kv_heads().end(), (r.q_heads().end() + group - 1) / group);
      }
      if (shape.tp <= c.n_kv_heads && (group * c.head_dim) % wo_align == 0) {
        EXPECT_GE(nkv, 1);
        EXPECT_EQ(nq, nkv * group);
      }
      // Block alignment of the column cuts.
      EXPECT_EQ(r.q_heads().begin() * c.head_dim % wo_align, 0);
      EXPECT_EQ(r.q_heads().end() * c.head_dim % wo_align, 0);
      EXPECT_TRUE(r.ffn().end() % wo_align == 0 || r.ffn().end() == c.ffn_dim);
      // Memory, KV and time.
      EXPECT_EQ(r.kv_bytes_per_token(), n_layers * 2 * nkv * c.head_dim * 4);
      EXPECT_EQ(r.kv_bytes(), 512 * r.kv_bytes_per_token());
      EXPECT_LE(r.weight_bytes() + r.kv_bytes(), r.device().memory_bytes());
      EXPECT_EQ(r.device().name(), "dev" + std::to_string(r.rank()));
      EXPECT_GT(r.predicted_step_seconds(), 0);
      stage_max = std::max(stage_max, r.predicted_step_seconds());
      kv_rows_held += n_layers * nkv;
      weight_sum += r.weight_bytes();
    }
    EXPECT_EQ(q_at, c.n_heads);
    EXPECT_EQ(ffn_at, c.ffn_dim);
    EXPECT_EQ(vocab_at, vocab ? c.vocab_size : 0);
    stage_max_sum += stage_max;
  }
  EXPECT_EQ(layer_at, c.n_layers);
  EXPECT_DOUBLE_EQ(plan->predicted_step_seconds(), stage_max_sum);

  // The model once: every matrix, the norms, biases, embedding and output.
  const int64_t L = c.n_layers, d = c.dim;
  const int64_t layer_elems = c.q_dim() * d + 2 * c.kv_dim() * d + d * c.q_dim() + 3 * c.ffn_dim * d;
  int64_t model = L * (MatBytes(type, 1, layer_elems) + 2 * d * 4) + MatBytes(type, c.vocab_size, d) + d * 4;
  if (c.qkv_bias) model += L * (c.q_dim() + 2 * c.kv_dim()) * 4;
  if (!c.tied_output) model += MatBytes(type, c.vocab_size, d);
  // Replicated: the layer norms on every tensor rank, the output norm on the
  // last stage's, KV heads (wk, wv rows and biases) held by several ranks,
  // and a tied output matrix loaded again by a last stage that does not embed.
  int64_t extra = (shape.tp - 1) * (L * 2 * d + d) * 4;
  const int64_t kv_extra_rows = (kv_rows_held - L * c.n_kv_heads) * c.head_dim;
  extra += 2 * MatBytes(type, kv_extra_rows, d) + (c.qkv_bias ? 2 * kv_extra_rows * 4 : 0);
  if (c.tied_output && shape.pp > 1) extra += MatBytes(type, c.vocab_size, d);
  EXPECT_EQ(weight_sum, model + extra);
  if (shape.tp <= c.n_kv_heads && (group * c.head_dim) % wo_align == 0) {
    EXPECT_EQ(kv_extra_rows, 0);
  }
}

std::string CaseName(const ::testing::TestParamInfo<Param>& info) {
  const Shape shape = std::get<0>(info.param);
  return "tp" + std::to_string(shape.tp) + "_pp" + std::to_string(shape.pp) + "_" +
         std::get<1>(info.param).name + "_" + std::string(DTypeName(std::get<2>(info.param))) +
         (std::get<3>(info.param) ? "_unequal" : "_equal");
}

INSTANTIATE_TEST_SUITE_P(Table, PartitionShapesTest,
                         ::testing::Combine(::testing::ValuesIn(kShapes), ::testing::ValuesIn(kConfigs),
                                            ::testing::Values(DType::kF32, DType::kQ8_0), ::testing::Bool()),
                         CaseName);

}  // namespace
}  // namespace tessera
