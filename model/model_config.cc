// LoadModelConfig: reads the "{arch}.*" hyper-parameters of a llama.cpp style
// GGUF file and checks them against each other, so that later stages can trust
// every size (nothing below here re-validates a config).
//
// Error codes: a file that does not describe a model tessera can run (missing
// key, out-of-range or inconsistent value, unsupported architecture or rope
// scaling) is InvalidArgument; a key of the wrong type keeps GgufFile's error.

#include "model/model_config.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "model/gguf_cursor.h"

namespace tessera {

namespace {

// Sanity limits: far above any released llama/qwen2 model, low enough that
// products of two of them (q_dim, matrix sizes) stay well inside int64.
constexpr int64_t kMaxWidth = int64_t{1} << 20;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxContext = int64_t{1} << 24;
constexpr int64_t kMaxVocab = int64_t{1} << 24;

class Keys {
 public:
  Keys(const GgufFile& f, std::string arch) : f_(f), arch_(std::move(arch)) {}

  std::string Name(std::string_view suffix) const { return absl::StrCat(arch_, ".", std::string(suffix)); }
  bool Has(std::string_view suffix) const { return f_.Has(Name(suffix)); }

  absl::StatusOr<int64_t> Int(std::string_view suffix, int64_t lo, int64_t hi) const {
    const std::string key = Name(suffix);
    if (!f_.Has(key)) return Missing(key);
    TESSERA_GGUF_ASSIGN_OR_RETURN(const uint64_t v, f_.GetUint(key));
    if (v < static_cast<uint64_t>(lo) || v > static_cast<uint64_t>(hi)) {
      return absl::InvalidArgumentError(
          absl::StrCat("key '", key, "' is ", v, ", expected ", lo, "..", hi));
    }
    return static_cast<int64_t>(v);
  }
  absl::StatusOr<int64_t> IntOr(std::string_view suffix, int64_t dflt, int64_t lo, int64_t hi) const {
    if (!Has(suffix)) return dflt;
    return Int(suffix, lo, hi);
  }

  // A finite float > 0 and < hi.
  absl::StatusOr<float> Positive(std::string_view suffix, double hi) const {
    const std::string key = Name(suffix);
    if (!f_.Has(key)) return Missing(key);
    TESSERA_GGUF_ASSIGN_OR_RETURN(const double v, f_.GetFloat(key));
    // Checked after the cast too: 1e-60 is positive as a double but 0 as a
    // float, and a zero scale or epsilon turns every logit into NaN.
    if (!std::isfinite(v) || v <= 0 || v >= hi || static_cast<float>(v) < 1e-30f) {
      return absl::InvalidArgumentError(
          absl::StrCat("key '", key, "' is ", v, ", expected a number above 0 and below ", hi));
    }
    return static_cast<float>(v);
  }
  absl::StatusOr<float> PositiveOr(std::string_view suffix, float dflt, double hi) const {
    if (!Has(suffix)) return dflt;
    return Positive(suffix, hi);
  }

  static absl::Status Missing(const std::string& key) {
    return absl::InvalidArgumentError(absl::StrCat("missing required metadata key '", key, "'"));
  }

 private:
  const GgufFile& f_;
  std::string arch_;
};

absl::StatusOr<Arch> ReadArch(const GgufFile& f) {
  constexpr std::string_view kKey = "general.architecture";
  if (!f.Has(kKey)) return Keys::Missing(std::string(kKey));
  TESSERA_GGUF_ASSIGN_OR_RETURN(const std::string_view arch, f.GetString(kKey));
  if (arch == "llama") return Arch::kLlama;
  if (arch == "qwen2") return Arch::kQwen2;
  return absl::InvalidArgumentError(absl::StrCat("architecture '", std::string(arch),
                                                 "' is not supported (tessera runs llama and qwen2)"));
}

// Sets c.rope_linear_scale from "{arch}.rope.scaling.*" or the older
// "{arch}.rope.scale_linear". Scaling schemes that change the rope formula
// itself (yarn, longrope, ...) would give wrong logits silently, so they are
// refused.
absl::Status ReadRopeScaling(const GgufFile& f, const Keys& k, ModelConfig& c) {
  constexpr double kMaxScale = 1024;
  if (k.Has("rope.scaling.type")) {
    TESSERA_GGUF_ASSIGN_OR_RETURN(const std::string_view type, f.GetString(k.Name("rope.scaling.type")));
    if (type == "none") return absl::OkStatus();
    if (type != "linear") {
      return absl::InvalidArgumentError(absl::StrCat(
          "key '", k.Name("rope.scaling.type"), "' is '", std::string(type),
          "': tessera supports rope scaling 'none' and 'linear' (and Llama-3 style "
          "rope_freqs.weight)"));
    }
    TESSERA_GGUF_ASSIGN_OR_RETURN(c.rope_linear_scale, k.Positive("rope.scaling.factor", kMaxScale));
    return absl::OkStatus();
  }
  TESSERA_GGUF_ASSIGN_OR_RETURN(c.rope_linear_scale, k.PositiveOr("rope.scale_linear", 1.0f, kMaxScale));
  return absl::OkStatus();
}

absl::Status ReadHeads(const Keys& k, ModelConfig& c) {
  TESSERA_GGUF_ASSIGN_OR_RETURN(c.n_heads, k.Int("attention.head_count", 1, kMaxWidth));
  TESSERA_GGUF_ASSIGN_OR_RETURN(c.n_kv_heads,
                                k.IntOr("attention.head_count_kv", c.n_heads, 1, kMaxWidth));
  if (c.n_heads % c.n_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key '", k.Name("attention.head_count"), "' (", c.n_heads, ") is not a multiple of '",
        k.Name("attention.head_count_kv"), "' (", c.n_kv_heads, ")"));
  }
  if (k.Has("attention.key_length")) {
    TESSERA_GGUF_ASSIGN_OR_RETURN(c.head_dim, k.Int("attention.key_length", 1, kMaxWidth));
  } else if (c.dim % c.n_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("key '", k.Name("embedding_length"), "' (", c.dim, ") is not a multiple of '",
                     k.Name("attention.head_count"), "' (", c.n_heads, ") and '",
                     k.Name("attention.key_length"), "' is absent"));
  } else {
    c.head_dim = c.dim / c.n_heads;
  }
  if (k.Has("attention.value_length")) {
    TESSERA_GGUF_ASSIGN_OR_RETURN(const int64_t v, k.Int("attention.value_length", 1, kMaxWidth));
    if (v != c.head_dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "key '", k.Name("attention.value_length"), "' (", v, ") differs from the key length (",
          c.head_dim, "); tessera needs equal key and value head sizes"));
    }
  }
  if (c.q_dim() > kMaxWidth * 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention width ", c.n_heads, " heads x ", c.head_dim, " is implausibly large"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view ArchName(Arch a) {
  switch (a) {
    case Arch::kLlama: return "llama";
    case Arch::kQwen2: return "qwen2";
  }
  return "?";
}

absl::StatusOr<ModelConfig> LoadModelConfig(const GgufFile& f) {
  ModelConfig c;
  TESSERA_GGUF_ASSIGN_OR_RETURN(c.arch, ReadArch(f));
  const Keys k(f, std::string(ArchName(c.arch)));
  if (f.Has("general.name")) {
    TESSERA_GGUF_ASSIGN_OR_RETURN(const std::string_view name, f.GetString("general.name"));
    c.name = std::string(name);
  }
  TESSERA_GGUF_ASSIGN_OR_RETURN(c.n_layers, k.Int("block_count", 1, kMaxLayers));
  TESSERA_GGUF_ASSIGN_OR_RETURN(c.dim, k.Int("embedding_length", 1, kMaxWidth));
  TESSERA_GGUF_ASSIGN_OR_RETURN(c.ffn_dim, k.Int("feed_forward_length", 1, kMaxWidth));
  TESSERA_GGUF_ASSIGN_OR_RETURN(c.context_length, k.Int("context_length", 1, kMaxContext));
  TESSERA_GGUF_RETURN_IF_ERROR(ReadHeads(k, c));
  TESSERA_GGUF_ASSIGN_OR_RETURN(c.rms_eps, k.Positive("attention.layer_norm_rms_epsilon", 1.0));
  TESSERA_GGUF_ASSIGN_OR_RETURN(c.rope_theta, k.PositiveOr("rope.freq_base", 10000.0f, 1e12));
  TESSERA_GGUF_ASSIGN_OR_RETURN(c.rope_dims, k.IntOr("rope.dimension_count", c.head_dim, 1, kMaxWidth));
  if (c.rope_dims % 2 != 0 || c.rope_dims > c.head_dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("key '", k.Name("rope.dimension_count"), "' is ", c.rope_dims,
                     ": it must be even and at most the head size ", c.head_dim));
  }
  TESSERA_GGUF_RETURN_IF_ERROR(ReadRopeScaling(f, k, c));

  constexpr std::string_view kEmbd = "token_embd.weight";
  if (f.FindTensor(kEmbd) == nullptr) {
    return absl::InvalidArgumentError(
        "required tensor 'token_embd.weight' is missing (its rows give the vocabulary size)");
  }
  TESSERA_GGUF_ASSIGN_OR_RETURN(const MatrixView embd, f.Matrix(kEmbd));
  if (embd.rows > kMaxVocab) {
    return absl::InvalidArgumentError(absl::StrCat("tensor 'token_embd.weight' has ", embd.rows,
                                                   " rows: a vocabulary above ", kMaxVocab,
                                                   " tokens is implausible"));
  }
  c.vocab_size = embd.rows;
  c.tied_output = f.FindTensor("output.weight") == nullptr;
  // qwen2 always has q/k/v biases (BindModelWeights requires them); a llama
  // file that carries them gets them applied rather than silently dropped.
  c.qkv_bias = c.arch == Arch::kQwen2 || f.FindTensor("blk.0.attn_q.bias") != nullptr;
  c.rope_neox = c.arch == Arch::kQwen2;
  return c;
}

}  // namespace tessera
