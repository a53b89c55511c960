// The hyper-parameters of a transformer read from GGUF metadata
// ("{arch}.block_count" and friends) and checked for consistency.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "model/gguf_file.h"

namespace tessera {

enum class Arch { kLlama, kQwen2 };
std::string_view ArchName(Arch a);

struct ModelConfig {
  Arch arch = Arch::kLlama;
  std::string name;               // general.name, may be empty
  int64_t n_layers = 0;           // {arch}.block_count
  int64_t dim = 0;                // {arch}.embedding_length
  int64_t n_heads = 0;            // {arch}.attention.head_count
  int64_t n_kv_heads = 0;         // {arch}.attention.head_count_kv (default n_heads)
  int64_t head_dim = 0;           // {arch}.attention.key_length (default dim / n_heads)
  int64_t ffn_dim = 0;            // {arch}.feed_forward_length
  int64_t vocab_size = 0;         // rows of token_embd.weight
  int64_t context_length = 0;     // {arch}.context_length
  float rms_eps = 1e-5f;          // {arch}.attention.layer_norm_rms_epsilon
  float rope_theta = 10000.0f;    // {arch}.rope.freq_base
  int64_t rope_dims = 0;          // {arch}.rope.dimension_count (default head_dim)
  float rope_linear_scale = 1.0f; // from {arch}.rope.scaling.type = linear + .factor
  bool rope_neox = false;         // qwen2 uses NeoX ordering, llama the normal one
  bool tied_output = false;       // no output.weight: logits use token_embd.weight
  bool qkv_bias = false;          // qwen2: attn_{q,k,v}.bias

  int64_t q_dim() const { return n_heads * head_dim; }
  int64_t kv_dim() const { return n_kv_heads * head_dim; }
};

// Reads and validates the config. Unknown architectures and rope scaling
// types tessera cannot honour (yarn, longrope, ...) are errors that say so.
absl::StatusOr<ModelConfig> LoadModelConfig(const GgufFile& file);

}  // namespace tessera
