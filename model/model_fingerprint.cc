#include "model/model_fingerprint.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "absl/strings/str_format.h"

namespace tessera {
namespace {

// FNV-1a, 64 bits: not cryptographic (a fingerprint guards against mistakes,
// not an adversary), but stable across builds and machines.
class Fnv {
 public:
  void Bytes(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) {
      h_ ^= b[i];
      h_ *= 0x100000001b3ULL;
    }
  }
  void Int(int64_t v) { Bytes(&v, sizeof(v)); }
  void Float(float v) { Bytes(&v, sizeof(v)); }
  void Text(std::string_view s) {
    Int(static_cast<int64_t>(s.size()));
    Bytes(s.data(), s.size());
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0xcbf29ce484222325ULL;
};

}  // namespace

std::string ModelFingerprint(const Model& model) {
  Fnv h;
  const ModelConfig& c = model.config;
  h.Int(static_cast<int64_t>(c.arch));
  for (int64_t v : {c.n_layers, c.dim, c.n_heads, c.n_kv_heads, c.head_dim, c.ffn_dim, c.vocab_size,
                    c.context_length, c.rope_dims}) {
    h.Int(v);
  }
  for (float v : {c.rms_eps, c.rope_theta, c.rope_linear_scale}) h.Float(v);
  h.Int(c.rope_neox);
  h.Int(c.tied_output);
  h.Int(c.qkv_bias);
  if (model.tokenizer != nullptr) {
    const Tokenizer& t = *model.tokenizer;
    h.Int(t.vocab_size());
    h.Int(t.bos_id());
    h.Int(t.eos_id());
    h.Int(t.add_bos());
    for (int32_t id = 0; id < t.vocab_size(); ++id) h.Text(t.TokenText(id));
  }
  if (model.file != nullptr) {
    for (const GgufTensorInfo& info : model.file->tensors()) {
      h.Text(info.name);
      h.Int(static_cast<int64_t>(info.type));
      for (int64_t d : info.dims) h.Int(d);
      const size_t n = static_cast<size_t>(std::max<int64_t>(info.n_bytes, 0));
      const size_t edge = std::min<size_t>(n, 64);
      if (info.data != nullptr && edge > 0) {
        h.Bytes(info.data, edge);
        h.Bytes(info.data + (n - edge), edge);
      }
    }
  }
  return absl::StrFormat("%016x", h.value());
}

}  // namespace tessera
