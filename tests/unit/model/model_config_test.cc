// LoadModelConfig on tiny llama and qwen2 files: defaults, optional keys,
// rope scaling, and the inconsistent or missing keys it must refuse.

#include "model/model_config.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/model/tiny_model.h"

namespace tessera {
namespace {

using gguf_test::BuildTiny;
using gguf_test::TinyModel;
using gguf_test::TinyTensors;
using ::testing::HasSubstr;

template <typename Extra>
absl::StatusOr<ModelConfig> Load(const TinyModel& m, Extra extra) {
  auto f = BuildTiny(m, TinyTensors(m), extra);
  if (f == nullptr) return absl::InternalError("test file did not build");
  return LoadModelConfig(*f);
}
absl::StatusOr<ModelConfig> Load(const TinyModel& m) {
  return Load(m, [](GgufWriter&) {});
}

void ExpectRefused(const absl::StatusOr<ModelConfig>& c, std::vector<std::string> needles) {
  ASSERT_FALSE(c.ok()) << "config was accepted";
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  for (const std::string& n : needles) EXPECT_THAT(std::string(c.status().message()), HasSubstr(n));
}

TEST(ModelConfigTest, MinimalLlama) {
  TinyModel m;  // dim 8, 2 heads, 1 kv head, ffn 12, vocab 10, 2 layers
  auto c = Load(m);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->arch, Arch::kLlama);
  EXPECT_EQ(ArchName(c->arch), "llama");
  EXPECT_EQ(c->name, "tiny llama");
  EXPECT_EQ(c->n_layers, 2);
  EXPECT_EQ(c->dim, 8);
  EXPECT_EQ(c->n_heads, 2);
  EXPECT_EQ(c->n_kv_heads, 1);
  EXPECT_EQ(c->head_dim, 4);
  EXPECT_EQ(c->q_dim(), 8);
  EXPECT_EQ(c->kv_dim(), 4);
  EXPECT_EQ(c->ffn_dim, 12);
  EXPECT_EQ(c->vocab_size, 10);
  EXPECT_EQ(c->context_length, 64);
  EXPECT_FLOAT_EQ(c->rms_eps, 1e-6f);
  EXPECT_EQ(c->rope_theta, 10000.0f);
  EXPECT_EQ(c->rope_dims, 4);
  EXPECT_EQ(c->rope_linear_scale, 1.0f);
  EXPECT_FALSE(c->rope_neox);
  EXPECT_FALSE(c->tied_output);
  EXPECT_FALSE(c->qkv_bias);
}

TEST(ModelConfigTest, MinimalQwen2) {
  TinyModel m;
  m.arch = "qwen2";
  m.tied = true;
  m.biases = true;
  m.vocab = 12;
  auto c = Load(m, [](GgufWriter& w) { w.SetFloat32("qwen2.rope.freq_base", 1000000.0f); });
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->arch, Arch::kQwen2);
  EXPECT_EQ(ArchName(c->arch), "qwen2");
  EXPECT_EQ(c->vocab_size, 12);
  EXPECT_EQ(c->rope_theta, 1000000.0f);
  EXPECT_TRUE(c->rope_neox);
  EXPECT_TRUE(c->tied_output);
  EXPECT_TRUE(c->qkv_bias);
}

TEST(ModelConfigTest, LlamaWithBiasesUsesThem) {
  TinyModel m;
  m.biases = true;
  auto c = Load(m);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->qkv_bias);
}

TEST(ModelConfigTest, HeadCountKvDefaultsToHeadCount) {
  TinyModel m;
  m.n_kv_heads = 2;  // tensors are shaped for 2 kv heads
  m.omit_keys = {"llama.attention.head_count_kv"};
  auto c = Load(m);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->n_kv_heads, 2);
}

TEST(ModelConfigTest, ExplicitKeyLengthAndRopeDims) {
  auto c = Load(TinyModel{}, [](GgufWriter& w) {
    w.SetUint32("llama.attention.key_length", 16);
    w.SetUint32("llama.attention.value_length", 16);
    w.SetUint32("llama.rope.dimension_count", 6);
  });
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->q_dim(), 32);
  EXPECT_EQ(c->rope_dims, 6);
}

TEST(ModelConfigTest, LinearRopeScalingHonoured) {
  auto c = Load(TinyModel{}, [](GgufWriter& w) {
    w.SetString("llama.rope.scaling.type", "linear");
    w.SetFloat32("llama.rope.scaling.factor", 4.0f);
  });
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_linear_scale, 4.0f);
}

TEST(ModelConfigTest, OlderScaleLinearKeyHonoured) {
  auto c = Load(TinyModel{}, [](GgufWriter& w) { w.SetFloat32("llama.rope.scale_linear", 2.0f); });
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_linear_scale, 2.0f);
}

TEST(ModelConfigTest, ScalingTypeNoneIgnoresFactor) {
  auto c = Load(TinyModel{}, [](GgufWriter& w) {
    w.SetString("llama.rope.scaling.type", "none");
    w.SetFloat32("llama.rope.scaling.factor", 8.0f);
  });
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_linear_scale, 1.0f);
}

TEST(ModelConfigTest, YarnRefused) {
  ExpectRefused(Load(TinyModel{}, [](GgufWriter& w) {
                  w.SetString("llama.rope.scaling.type", "yarn");
                  w.SetFloat32("llama.rope.scaling.factor", 4.0f);
                }),
                {"'yarn'", "'none' and 'linear'", "rope_freqs.weight"});
}

TEST(ModelConfigTest, LinearWithoutFactorRefused) {
  ExpectRefused(Load(TinyModel{}, [](GgufWriter& w) { w.SetString("llama.rope.scaling.type", "linear"); }),
                {"'llama.rope.scaling.factor'"});
}

TEST(ModelConfigTest, NonPositiveFactorRefused) {
  ExpectRefused(Load(TinyModel{}, [](GgufWriter& w) {
                  w.SetString("llama.rope.scaling.type", "linear");
                  w.SetFloat32("llama.rope.scaling.factor", 0.0f);
                }),
                {"'llama.rope.scaling.factor' is 0"});
}

TEST(ModelConfigTest, HeadCountNotMultipleOfKvHeads) {
  ExpectRefused(Load(TinyModel{}, [](GgufWriter& w) {
                  w.SetUint32("llama.attention.head_count", 6);
                  w.SetUint32("llama.attention.head_count_kv", 4);
                  w.SetUint32("llama.attention.key_length", 4);
                }),
                {"'llama.attention.head_count' (6)", "'llama.attention.head_count_kv' (4)"});
}

TEST(ModelConfigTest, DimNotMultipleOfHeadsWithoutKeyLength) {
  ExpectRefused(Load(TinyModel{}, [](GgufWriter& w) { w.SetUint32("llama.attention.head_count", 3); }),
                {"'llama.embedding_length' (8)", "'llama.attention.head_count' (3)"});
}

TEST(ModelConfigTest, ValueLengthMustEqualKeyLength) {
  ExpectRefused(Load(TinyModel{}, [](GgufWriter& w) {
                  w.SetUint32("llama.attention.value_length", 8);
                }),
                {"'llama.attention.value_length' (8)", "key length (4)"});
}

TEST(ModelConfigTest, RopeDimsOddOrTooLargeRefused) {
  for (uint32_t dims : {3u, 6u}) {
    ExpectRefused(Load(TinyModel{}, [&](GgufWriter& w) { w.SetUint32("llama.rope.dimension_count", dims); }),
                  {"'llama.rope.dimension_count' is " + std::to_string(dims)});
  }
}

TEST(ModelConfigTest, OutOfRangeValuesRefused) {
  ExpectRefused(Load(TinyModel{}, [](GgufWriter& w) { w.SetUint32("llama.block_count", 0); }),
                {"'llama.block_count' is 0", "1..1024"});
  ExpectRefused(Load(TinyModel{}, [](GgufWriter& w) { w.SetUint32("llama.block_count", 5000); }),
                {"'llama.block_count' is 5000"});
  ExpectRefused(Load(TinyModel{}, [](GgufWriter& w) { w.SetUint32("llama.attention.head_count_kv", 0); }),
                {"'llama.attention.head_count_kv' is 0"});
  ExpectRefused(Load(TinyModel{}, [](GgufWriter& w) {
                  w.SetFloat32("llama.attention.layer_norm_rms_epsilon", -1e-5f);
                }),
                {"'llama.attention.layer_norm_rms_epsilon'"});
  ExpectRefused(Load(TinyModel{}, [](GgufWriter& w) { w.SetFloat32("llama.rope.freq_base", 0.0f); }),
                {"'llama.rope.freq_base' is 0"});
}

TEST(ModelConfigTest, WrongKeyTypeNamesTheKey) {
  ExpectRefused(Load(TinyModel{}, [](GgufWriter& w) { w.SetString("llama.embedding_length", "8"); }),
                {"key 'llama.embedding_length' has type string"});
}

TEST(ModelConfigTest, MissingRequiredKeysAreNamed) {
  for (const std::string key : {"llama.block_count", "llama.embedding_length", "llama.feed_forward_length",
                                "llama.attention.head_count", "llama.context_length",
                                "llama.attention.layer_norm_rms_epsilon", "general.architecture"}) {
    SCOPED_TRACE(key);
    TinyModel m;
    m.omit_keys = {key};
    ExpectRefused(Load(m), {"missing required metadata key '" + key + "'"});
  }
}

TEST(ModelConfigTest, UnsupportedArchitectureNamed) {
  TinyModel m;
  m.arch = "gpt2";
  ExpectRefused(Load(m), {"architecture 'gpt2' is not supported", "llama and qwen2"});
}

TEST(ModelConfigTest, MissingTokenEmbeddingRefused) {
  TinyModel m;
  auto tensors = TinyTensors(m);
  tensors.erase(tensors.begin());  // token_embd.weight
  auto f = BuildTiny(m, tensors, [](GgufWriter&) {});
  ASSERT_NE(f, nullptr);
  ExpectRefused(LoadModelConfig(*f), {"'token_embd.weight' is missing"});
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

// 1e-60 is a positive double but 0 as a float: a zero scale would turn every
// logit into NaN, so it must be refused like 0 itself.
TEST(ModelConfigTest, ScaleThatVanishesAsFloatRefused) {
  auto c = Load(TinyModel{}, [](GgufWriter& w) {
    w.SetString("llama.rope.scaling.type", "linear");
    w.SetFloat32("llama.rope.scaling.factor", 1e-40f);  // a float32 subnormal
  });
  ExpectRefused(c, {"llama.rope.scaling.factor"});
}

}  // namespace
}  // namespace tessera
