// BindModelWeights on tiny models: every role bound to the right tensor with
// the config's shape, 1-D tensors converted to f32, and the missing, misshapen
// or mistyped tensors it must refuse.

#include "model/model_weights.h"

#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/model_config.h"
#include "tests/unit/model/tiny_model.h"

namespace tessera {
namespace {

using gguf_test::BuildTiny;
using gguf_test::TinyModel;
using gguf_test::TinyTensor;
using gguf_test::TinyTensors;
using gguf_test::TinyValue;
using ::testing::HasSubstr;

// The tag TinyTensorBytes gave `name`: its 1-based position in `tensors`.
int TagOf(const std::vector<TinyTensor>& tensors, const std::string& name) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].name == name) return static_cast<int>(i) + 1;
  }
  ADD_FAILURE() << "no tensor " << name;
  return 0;
}

std::vector<float> Expected(int tag, int64_t n) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = TinyValue(tag, i);
  return v;
}

struct Bound {
  std::unique_ptr<GgufFile> file;
  absl::StatusOr<ModelConfig> config;
  absl::StatusOr<ModelWeights> weights;
};

template <typename Extra>
Bound Bind(const TinyModel& m, const std::vector<TinyTensor>& tensors, Extra extra) {
  Bound b{BuildTiny(m, tensors, extra), absl::InternalError("not built"), absl::InternalError("not built")};
  if (b.file == nullptr) return b;
  b.config = LoadModelConfig(*b.file);
  if (b.config.ok()) b.weights = BindModelWeights(*b.file, *b.config);
  return b;
}
Bound Bind(const TinyModel& m, const std::vector<TinyTensor>& tensors) {
  return Bind(m, tensors, [](GgufWriter&) {});
}

void ExpectRefused(const Bound& b, std::vector<std::string> needles) {
  ASSERT_TRUE(b.config.ok()) << b.config.status();
  ASSERT_FALSE(b.weights.ok()) << "weights were bound";
  EXPECT_EQ(b.weights.status().code(), absl::StatusCode::kInvalidArgument) << b.weights.status();
  for (const std::string& n : needles) {
    EXPECT_THAT(std::string(b.weights.status().message()), HasSubstr(n));
  }
}

void ExpectMatrix(const GgufFile& f, const MatrixView& m, const std::string& name, int64_t rows,
                  int64_t cols) {
  SCOPED_TRACE(name);
  const GgufTensorInfo* t = f.FindTensor(name);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(m.data, t->data);
  EXPECT_EQ(m.rows, rows);
  EXPECT_EQ(m.cols, cols);
  EXPECT_EQ(m.row_bytes, *RowBytes(m.type, cols));
}

TEST(ModelWeightsTest, BindsEveryLlamaRole) {
  TinyModel m;  // dim 8, q_dim 8, kv_dim 4, ffn 12, vocab 10
  const auto tensors = TinyTensors(m);
  Bound b = Bind(m, tensors);
  ASSERT_TRUE(b.weights.ok()) << b.weights.status();
  const ModelWeights& w = *b.weights;
  const GgufFile& f = *b.file;
  ExpectMatrix(f, w.token_embd, "token_embd.weight", 10, 8);
  ExpectMatrix(f, w.output, "output.weight", 10, 8);
  EXPECT_EQ(w.output_norm, Expected(TagOf(tensors, "output_norm.weight"), 8));
  EXPECT_TRUE(w.rope_freqs.empty());
  ASSERT_EQ(w.layers.size(), 2u);
  for (int l = 0; l < 2; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const LayerWeights& L = w.layers[l];
    ExpectMatrix(f, L.wq, p + "attn_q.weight", 8, 8);
    ExpectMatrix(f, L.wk, p + "attn_k.weight", 4, 8);
    ExpectMatrix(f, L.wv, p + "attn_v.weight", 4, 8);
    ExpectMatrix(f, L.wo, p + "attn_output.weight", 8, 8);
    ExpectMatrix(f, L.w_gate, p + "ffn_gate.weight", 12, 8);
    ExpectMatrix(f, L.w_up, p + "ffn_up.weight", 12, 8);
    ExpectMatrix(f, L.w_down, p + "ffn_down.weight", 8, 12);
    EXPECT_EQ(L.attn_norm, Expected(TagOf(tensors, p + "attn_norm.weight"), 8));
    EXPECT_EQ(L.ffn_norm, Expected(TagOf(tensors, p + "ffn_norm.weight"), 8));
    EXPECT_TRUE(L.bq.empty() && L.bk.empty() && L.bv.empty());
    float first;
    std::memcpy(&first, L.wk.Row(0), 4);
    EXPECT_EQ(first, TinyValue(TagOf(tensors, p + "attn_k.weight"), 0));
  }
}

TEST(ModelWeightsTest, TiedOutputSharesTheEmbedding) {
  TinyModel m;
  m.tied = true;
  Bound b = Bind(m, TinyTensors(m));
  ASSERT_TRUE(b.weights.ok()) << b.weights.status();
  EXPECT_EQ(b.weights->output.data, b.weights->token_embd.data);
  EXPECT_EQ(b.weights->output.rows, 10);
}

TEST(ModelWeightsTest, Qwen2BiasesAreBound) {
  TinyModel m;
  m.arch = "qwen2";
  m.biases = true;
  const auto tensors = TinyTensors(m);
  Bound b = Bind(m, tensors);
  ASSERT_TRUE(b.weights.ok()) << b.weights.status();
  const LayerWeights& L = b.weights->layers[1];
  EXPECT_EQ(L.bq, Expected(TagOf(tensors, "blk.1.attn_q.bias"), 8));
  EXPECT_EQ(L.bk, Expected(TagOf(tensors, "blk.1.attn_k.bias"), 4));
  EXPECT_EQ(L.bv, Expected(TagOf(tensors, "blk.1.attn_v.bias"), 4));
}

TEST(ModelWeightsTest, Qwen2MissingBiasNamed) {
  TinyModel m;
  m.arch = "qwen2";
  m.biases = true;
  auto tensors = TinyTensors(m);
  std::erase_if(tensors, [](const TinyTensor& t) { return t.name == "blk.1.attn_k.bias"; });
  ExpectRefused(Bind(m, tensors), {"missing tensor 'blk.1.attn_k.bias'", "[4]"});
}

TEST(ModelWeightsTest, HalfPrecisionVectorsConvertExactly) {
  for (DType t : {DType::kF16, DType::kBF16}) {
    SCOPED_TRACE(std::string(DTypeName(t)));
    TinyModel m;
    m.vector_type = t;
    const auto tensors = TinyTensors(m);
    Bound b = Bind(m, tensors);
    ASSERT_TRUE(b.weights.ok()) << b.weights.status();
    EXPECT_EQ(b.weights->output_norm, Expected(TagOf(tensors, "output_norm.weight"), 8));
    EXPECT_EQ(b.weights->layers[0].ffn_norm, Expected(TagOf(tensors, "blk.0.ffn_norm.weight"), 8));
  }
}

TEST(ModelWeightsTest, QuantizedMatrices) {
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kF16, DType::kBF16}) {
    SCOPED_TRACE(std::string(DTypeName(t)));
    TinyModel m;
    m.dim = 32;
    m.ffn_dim = 64;
    m.n_heads = 4;
    m.n_kv_heads = 2;  // head_dim 8, kv_dim 16
    m.matrix_type = t;
    Bound b = Bind(m, TinyTensors(m));
    ASSERT_TRUE(b.weights.ok()) << b.weights.status();
    const LayerWeights& L = b.weights->layers[0];
    EXPECT_EQ(L.wk.type, t);
    EXPECT_EQ(L.wk.rows, 16);
    EXPECT_EQ(L.w_down.cols, 64);
    EXPECT_EQ(L.w_down.row_bytes, 64 / BlockElems(t) * BlockBytes(t));
    EXPECT_EQ(L.w_down.data, b.file->FindTensor("blk.0.ffn_down.weight")->data);
  }
}

TEST(ModelWeightsTest, QuantizedNormRefused) {
  TinyModel m;
  m.dim = 32;
  m.n_heads = 4;
  auto tensors = TinyTensors(m);
  for (TinyTensor& t : tensors) {
    if (t.name == "blk.1.ffn_norm.weight") t.type = DType::kQ8_0;
  }
  ExpectRefused(Bind(m, tensors), {"tensor 'blk.1.ffn_norm.weight' is q8_0", "f32, f16 or bf16"});
}

TEST(ModelWeightsTest, RopeFreqsBound) {
  TinyModel m;
  const std::vector<float> freqs = {1.0f, 4.0f};  // rope_dims 4 -> 2 factors
  Bound b = Bind(m, TinyTensors(m), [&](GgufWriter& w) {
    std::vector<uint8_t> bytes(8);
    std::memcpy(bytes.data(), freqs.data(), 8);
    ASSERT_TRUE(w.AddTensor("rope_freqs.weight", {2}, DType::kF32, bytes).ok());
  });
  ASSERT_TRUE(b.weights.ok()) << b.weights.status();
  EXPECT_EQ(b.weights->rope_freqs, freqs);
}

TEST(ModelWeightsTest, RopeFreqsWrongLengthRefused) {
  TinyModel m;
  ExpectRefused(Bind(m, TinyTensors(m),
                     [](GgufWriter& w) {
                       ASSERT_TRUE(w.AddTensor("rope_freqs.weight", {4}, DType::kF32,
                                               std::vector<uint8_t>(16)).ok());
                     }),
                {"tensor 'rope_freqs.weight': expected shape [2], got [4]"});
}

TEST(ModelWeightsTest, MissingMatrixNamedWithShape) {
  TinyModel m;
  auto tensors = TinyTensors(m);
  std::erase_if(tensors, [](const TinyTensor& t) { return t.name == "blk.1.ffn_up.weight"; });
  ExpectRefused(Bind(m, tensors), {"missing tensor 'blk.1.ffn_up.weight'", "[8, 12]"});
}

TEST(ModelWeightsTest, WrongShapeNamedWithBothShapes) {
  TinyModel m;
  auto tensors = TinyTensors(m);
  for (TinyTensor& t : tensors) {
    if (t.name == "blk.0.attn_k.weight") t.dims = {8, 8};  // as if n_kv_heads were 2
  }
  ExpectRefused(Bind(m, tensors), {"tensor 'blk.0.attn_k.weight': expected shape [8, 4], got [8, 8]"});
}

TEST(ModelWeightsTest, TransposedMatrixRefused) {
  TinyModel m;
  auto tensors = TinyTensors(m);
  for (TinyTensor& t : tensors) {
    if (t.name == "blk.1.ffn_down.weight") t.dims = {8, 12};
  }
  ExpectRefused(Bind(m, tensors), {"tensor 'blk.1.ffn_down.weight': expected shape [12, 8], got [8, 12]"});
}

TEST(ModelWeightsTest, OutputWithWrongVocabRefused) {
  TinyModel m;
  auto tensors = TinyTensors(m);
  for (TinyTensor& t : tensors) {
    if (t.name == "output.weight") t.dims = {8, 11};
  }
  ExpectRefused(Bind(m, tensors), {"tensor 'output.weight': expected shape [8, 10], got [8, 11]"});
}

TEST(ModelWeightsTest, MoreLayersThanBlockCountRefused) {
  TinyModel m;
  auto tensors = TinyTensors(m);
  Bound b = Bind(m, tensors, [](GgufWriter& w) { w.SetUint32("llama.block_count", 1); });
  ExpectRefused(b, {"'blk.1.attn_norm.weight' exists but block_count is 1"});
}

TEST(ModelWeightsTest, FewerLayersThanBlockCountRefused) {
  TinyModel m;
  Bound b = Bind(m, TinyTensors(m), [](GgufWriter& w) { w.SetUint32("llama.block_count", 3); });
  ExpectRefused(b, {"missing tensor 'blk.2.attn_norm.weight'"});
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

// Tensors with no role would be ignored and the logits silently wrong.
TEST(ModelWeightsTest, TensorWithoutRoleRefused) {
  for (const char* name : {"blk.0.attn_output.bias", "blk.1.attn_q_norm.weight", "blk.01.attn_norm.weight",
                           "mystery.weight"}) {
    TinyModel m;
    ExpectRefused(Bind(m, TinyTensors(m),
                       [&](GgufWriter& w) {
                         ASSERT_TRUE(w.AddTensor(name, {m.dim}, DType::kF32,
                                                 std::vector<uint8_t>(4 * m.dim)).ok());
                       }),
                  {name, "has no role"});
  }
}

TEST(ModelWeightsTest, RopeFreqsZeroRefused) {
  TinyModel m;
  ExpectRefused(Bind(m, TinyTensors(m),
                     [](GgufWriter& w) {
                       const float freqs[2] = {1.0f, 0.0f};
                       std::vector<uint8_t> bytes(8);
                       std::memcpy(bytes.data(), freqs, 8);
                       ASSERT_TRUE(w.AddTensor("rope_freqs.weight", {2}, DType::kF32, bytes).ok());
                     }),
                {"rope_freqs.weight", "element 1"});
}

}  // namespace
}  // namespace tessera
