// BindModelWeights: finds each transformer weight by its llama.cpp name and
// checks its exact shape against the config, so kernels can index matrices
// with the config's sizes and never read outside a tensor.
//
// Every failure (missing tensor, wrong shape, 1-D tensor of a quantized type,
// tensors for more layers than the config) is InvalidArgument naming the
// tensor; shapes are written ne0 first, as GGUF stores them.

#include "model/model_weights.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/gguf_cursor.h"
#include "model/half.h"

namespace tessera {

namespace {

std::string Shape(const std::vector<int64_t>& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

absl::StatusOr<const GgufTensorInfo*> Find(const GgufFile& f, const std::string& name,
                                           const std::vector<int64_t>& dims) {
  const GgufTensorInfo* t = f.FindTensor(name);
  if (t == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing tensor '", name, "' (expected shape ", Shape(dims), ")"));
  }
  if (t->dims != dims) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': expected shape ",
                                                   Shape(dims), ", got ", Shape(t->dims)));
  }
  return t;
}

// A rows x cols matrix: GGUF dims [cols, rows].
absl::StatusOr<MatrixView> BindMatrix(const GgufFile& f, const std::string& name, int64_t rows,
                                      int64_t cols) {
  TESSERA_GGUF_RETURN_IF_ERROR(Find(f, name, {cols, rows}).status());
  return f.Matrix(name);
}

absl::StatusOr<std::vector<float>> BindVector(const GgufFile& f, const std::string& name, int64_t n) {
  TESSERA_GGUF_ASSIGN_OR_RETURN(const GgufTensorInfo* t, Find(f, name, {n}));
  std::vector<float> out(n);
  switch (t->type) {
    case DType::kF32:
      std::memcpy(out.data(), t->data, n * sizeof(float));
      break;
    case DType::kF16:
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t->data + 2 * i, 2);
        out[i] = t->type == DType::kF16 ? Fp16ToFloat(h) : Bf16ToFloat(h);
      }
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' is ",
                                                     std::string(DTypeName(t->type)),
                                                     "; 1-D tensors must be f32, f16 or bf16"));
  }
  return out;
}

// Whether BindModelWeights gives `name` a role.
bool IsBoundTensor(std::string_view name, const ModelConfig& c) {
  if (name == "token_embd.weight" || name == "output_norm.weight" || name == "rope_freqs.weight" ||
      (name == "output.weight" && !c.tied_output)) {
    return true;
  }
  if (!name.starts_with("blk.")) return false;
  name.remove_prefix(4);
  const size_t dot = name.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 4) return false;
  int64_t layer = 0;
  for (char ch : name.substr(0, dot)) {
    if (ch < '0' || ch > '9') return false;
    layer = layer * 10 + (ch - '0');
  }
  // "blk.01." is not a name BindLayer looks up.
  if (layer >= c.n_layers || (dot > 1 && name[0] == '0')) return false;
  name.remove_prefix(dot + 1);
  for (const char* role : {"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight",
                           "attn_output.weight", "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight",
                           "ffn_down.weight"}) {
    if (name == role) return true;
  }
  return c.qkv_bias && (name == "attn_q.bias" || name == "attn_k.bias" || name == "attn_v.bias");
}

absl::StatusOr<LayerWeights> BindLayer(const GgufFile& f, const ModelConfig& c, int64_t i) {
  const std::string p = absl::StrCat("blk.", i, ".");
  LayerWeights l;
  TESSERA_GGUF_ASSIGN_OR_RETURN(l.attn_norm, BindVector(f, p + "attn_norm.weight", c.dim));
  TESSERA_GGUF_ASSIGN_OR_RETURN(l.wq, BindMatrix(f, p + "attn_q.weight", c.q_dim(), c.dim));
  TESSERA_GGUF_ASSIGN_OR_RETURN(l.wk, BindMatrix(f, p + "attn_k.weight", c.kv_dim(), c.dim));
  TESSERA_GGUF_ASSIGN_OR_RETURN(l.wv, BindMatrix(f, p + "attn_v.weight", c.kv_dim(), c.dim));
  TESSERA_GGUF_ASSIGN_OR_RETURN(l.wo, BindMatrix(f, p + "attn_output.weight", c.dim, c.q_dim()));
  if (c.qkv_bias) {
    TESSERA_GGUF_ASSIGN_OR_RETURN(l.bq, BindVector(f, p + "attn_q.bias", c.q_dim()));
    TESSERA_GGUF_ASSIGN_OR_RETURN(l.bk, BindVector(f, p + "attn_k.bias", c.kv_dim()));
    TESSERA_GGUF_ASSIGN_OR_RETURN(l.bv, BindVector(f, p + "attn_v.bias", c.kv_dim()));
  }
  TESSERA_GGUF_ASSIGN_OR_RETURN(l.ffn_norm, BindVector(f, p + "ffn_norm.weight", c.dim));
  TESSERA_GGUF_ASSIGN_OR_RETURN(l.w_gate, BindMatrix(f, p + "ffn_gate.weight", c.ffn_dim, c.dim));
  TESSERA_GGUF_ASSIGN_OR_RETURN(l.w_up, BindMatrix(f, p + "ffn_up.weight", c.ffn_dim, c.dim));
  TESSERA_GGUF_ASSIGN_OR_RETURN(l.w_down, BindMatrix(f, p + "ffn_down.weight", c.dim, c.ffn_dim));
  return l;
}

}  // namespace

absl::StatusOr<ModelWeights> BindModelWeights(const GgufFile& f, const ModelConfig& c) {
  ModelWeights w;
  TESSERA_GGUF_ASSIGN_OR_RETURN(w.token_embd, BindMatrix(f, "token_embd.weight", c.vocab_size, c.dim));
  TESSERA_GGUF_ASSIGN_OR_RETURN(w.output_norm, BindVector(f, "output_norm.weight", c.dim));
  if (c.tied_output) {
    w.output = w.token_embd;
  } else {
    TESSERA_GGUF_ASSIGN_OR_RETURN(w.output, BindMatrix(f, "output.weight", c.vocab_size, c.dim));
  }
  if (f.FindTensor("rope_freqs.weight") != nullptr) {
    TESSERA_GGUF_ASSIGN_OR_RETURN(w.rope_freqs, BindVector(f, "rope_freqs.weight", c.rope_dims / 2));
    for (size_t i = 0; i < w.rope_freqs.size(); ++i) {
      // Each is a divisor of a rotation frequency.
      if (!std::isfinite(w.rope_freqs[i]) || !(w.rope_freqs[i] > 0.0f)) {
        return absl::InvalidArgumentError(absl::StrCat("tensor 'rope_freqs.weight': element ", i, " is ",
                                                       w.rope_freqs[i], ", expected a finite number above 0"));
      }
    }
  }
  // A layer beyond block_count means the metadata and the tensors disagree;
  // running the first block_count layers would give wrong output silently.
  const std::string extra = absl::StrCat("blk.", c.n_layers, ".attn_norm.weight");
  if (f.FindTensor(extra) != nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", extra, "' exists but block_count is ",
                                                   c.n_layers, ": the file has more layers than its "
                                                   "metadata declares"));
  }
  w.layers.reserve(c.n_layers);
  for (int64_t i = 0; i < c.n_layers; ++i) {
    TESSERA_GGUF_ASSIGN_OR_RETURN(LayerWeights l, BindLayer(f, c, i));
    w.layers.push_back(std::move(l));
  }
  // A tensor with no role here (attn_output.bias, attn_q_norm of a newer
  // architecture labelled as this one) would be silently ignored and the
  // logits silently wrong: refuse the file instead.
  for (const GgufTensorInfo& t : f.tensors()) {
    if (!IsBoundTensor(t.name, c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", absl::CHexEscape(absl::string_view(t.name.data(), t.name.size())), "' has no role in a ", std::string(ArchName(c.arch)),
          " model as tessera runs it; refusing the file rather than ignoring it"));
    }
  }
  return w;
}

}  // namespace tessera
