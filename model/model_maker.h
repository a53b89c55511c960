// Random-weight models of a chosen shape, written as GGUF files that other
// GGUF readers load (every key the llama architecture needs, tokenizer
// included). The same spec and seed give the same bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/dtype.h"
#include "model/gguf_writer.h"
#include "model/model_config.h"

namespace tessera {

struct ModelSpec {
  Arch arch = Arch::kLlama;
  std::string tokenizer = "llama";  // "llama" (SentencePiece) or "gpt2" (byte-level BPE)
  int64_t n_layers = 2;
  int64_t dim = 128;
  int64_t n_heads = 4;
  int64_t n_kv_heads = 2;
  int64_t ffn_dim = 384;
  int64_t vocab_size = 512;
  int64_t context_length = 512;
  float rope_theta = 10000.0f;
  float rms_eps = 1e-5f;
  DType type = DType::kF32;  // matrices and the embedding; norms and biases stay f32
  bool tied_output = false;
  uint64_t seed = 1;
  // Standard deviation of the logits: large enough that next-token
  // distributions are peaked and greedy choices are not near-ties.
  float logit_scale = 8.0f;
};

// "tiny" (~0.5M parameters, unit tests), "small" (~30M), "medium" (~250M,
// benchmarks), "llama-1b" and "llama-8b" (the shapes of Llama 3.2 1B and
// Llama 3 8B: 1.24B and 8.03B parameters, for the GPU benchmarks).
absl::StatusOr<ModelSpec> PresetSpec(std::string_view preset);
absl::Status ValidateSpec(const ModelSpec& spec);
int64_t ParameterCount(const ModelSpec& spec);

// Fills `writer` with the model's metadata and tensors.
absl::Status BuildModel(const ModelSpec& spec, GgufWriter& writer);
// BuildModel, then writes the file.
absl::Status MakeModelFile(const ModelSpec& spec, const std::string& path);

}  // namespace tessera
