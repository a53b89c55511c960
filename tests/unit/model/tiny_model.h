// Test helper: a tiny llama/qwen2 GGUF model built with GgufWriter, whose
// metadata keys and tensors tests can omit, replace or reshape one at a time.
// Every tensor holds values a test can predict: element i of the tensor with
// tag t (its 1-based position in the tensor list) is t + 0.25 * (i % 4), exact
// in f32, f16 and bf16.
#pragma once

#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "model/dtype.h"
#include "model/gguf_file.h"
#include "model/gguf_writer.h"
#include "model/half.h"

namespace tessera::gguf_test {

struct TinyModel {
  std::string arch = "llama";
  int64_t n_layers = 2;
  int64_t dim = 8;
  int64_t n_heads = 2;
  int64_t n_kv_heads = 1;
  int64_t ffn_dim = 12;
  int64_t vocab = 10;
  int64_t context = 64;
  float rms_eps = 1e-6f;
  bool tied = false;
  bool biases = false;
  DType matrix_type = DType::kF32;
  DType vector_type = DType::kF32;
  std::set<std::string> omit_keys;  // metadata keys (full names) left out
};

struct TinyTensor {
  std::string name;
  std::vector<int64_t> dims;  // ne0 first
  DType type;
};

inline float TinyValue(int tag, int64_t i) { return static_cast<float>(tag) + 0.25f * (i % 4); }

inline std::vector<TinyTensor> TinyTensors(const TinyModel& m) {
  const int64_t head_dim = m.dim / m.n_heads;
  const int64_t q = m.n_heads * head_dim, kv = m.n_kv_heads * head_dim;
  std::vector<TinyTensor> t;
  t.push_back({"token_embd.weight", {m.dim, m.vocab}, m.matrix_type});
  t.push_back({"output_norm.weight", {m.dim}, m.vector_type});
  if (!m.tied) t.push_back({"output.weight", {m.dim, m.vocab}, m.matrix_type});
  for (int64_t l = 0; l < m.n_layers; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    t.push_back({p + "attn_norm.weight", {m.dim}, m.vector_type});
    t.push_back({p + "attn_q.weight", {m.dim, q}, m.matrix_type});
    t.push_back({p + "attn_k.weight", {m.dim, kv}, m.matrix_type});
    t.push_back({p + "attn_v.weight", {m.dim, kv}, m.matrix_type});
    t.push_back({p + "attn_output.weight", {q, m.dim}, m.matrix_type});
    if (m.biases) {
      t.push_back({p + "attn_q.bias", {q}, m.vector_type});
      t.push_back({p + "attn_k.bias", {kv}, m.vector_type});
      t.push_back({p + "attn_v.bias", {kv}, m.vector_type});
    }
    t.push_back({p + "ffn_norm.weight", {m.dim}, m.vector_type});
    t.push_back({p + "ffn_gate.weight", {m.dim, m.ffn_dim}, m.matrix_type});
    t.push_back({p + "ffn_up.weight", {m.dim, m.ffn_dim}, m.matrix_type});
    t.push_back({p + "ffn_down.weight", {m.ffn_dim, m.dim}, m.matrix_type});
  }
  return t;
}

// Encoded bytes of a tensor: TinyValue for float types; for block types a byte
// pattern (the binding never decodes matrices).
inline std::vector<uint8_t> TinyTensorBytes(const TinyTensor& t, int tag) {
  int64_t n = 1;
  for (int64_t d : t.dims) n *= d;
  std::vector<uint8_t> out;
  if (t.type == DType::kF32) {
    out.resize(n * 4);
    for (int64_t i = 0; i < n; ++i) {
      const float v = TinyValue(tag, i);
      std::memcpy(out.data() + 4 * i, &v, 4);
    }
  } else if (t.type == DType::kF16 || t.type == DType::kBF16) {
    out.resize(n * 2);
    for (int64_t i = 0; i < n; ++i) {
      const float v = TinyValue(tag, i);
      const uint16_t h = t.type == DType::kF16 ? FloatToFp16(v) : FloatToBf16(v);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  } else {
    out.resize(n / BlockElems(t.type) * BlockBytes(t.type));
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(tag * 7 + i);
  }
  return out;
}

inline void AddTinyMetadata(GgufWriter& w, const TinyModel& m) {
  auto u32 = [&](const std::string& key, int64_t v) {
    if (!m.omit_keys.contains(key)) w.SetUint32(key, static_cast<uint32_t>(v));
  };
  const std::string a = m.arch;
  if (!m.omit_keys.contains("general.architecture")) w.SetString("general.architecture", a);
  w.SetString("general.name", "tiny " + a);
  u32(a + ".block_count", m.n_layers);
  u32(a + ".embedding_length", m.dim);
  u32(a + ".feed_forward_length", m.ffn_dim);
  u32(a + ".attention.head_count", m.n_heads);
  u32(a + ".attention.head_count_kv", m.n_kv_heads);
  u32(a + ".context_length", m.context);
  const std::string eps = a + ".attention.layer_norm_rms_epsilon";
  if (!m.omit_keys.contains(eps)) w.SetFloat32(eps, m.rms_eps);
}

inline void AddTinyTensors(GgufWriter& w, const std::vector<TinyTensor>& tensors) {
  int tag = 1;
  for (const TinyTensor& t : tensors) {
    ASSERT_TRUE(w.AddTensor(t.name, t.dims, t.type, TinyTensorBytes(t, tag)).ok()) << t.name;
    ++tag;
  }
}

// Metadata of `m` plus `tensors`, then `extra` (which may override keys).
template <typename Extra>
std::unique_ptr<GgufFile> BuildTiny(const TinyModel& m, const std::vector<TinyTensor>& tensors,
                                    Extra extra) {
  GgufWriter w;
  AddTinyMetadata(w, m);
  AddTinyTensors(w, tensors);
  extra(w);
  auto bytes = w.Serialize();
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  if (!bytes.ok()) return nullptr;
  auto f = GgufFile::FromBytes(std::move(*bytes));
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? std::move(*f) : nullptr;
}

inline std::unique_ptr<GgufFile> BuildTiny(const TinyModel& m) {
  return BuildTiny(m, TinyTensors(m), [](GgufWriter&) {});
}

}  // namespace tessera::gguf_test
