// The forward pass of a llama/qwen2 transformer over a batch of sequences.
// All tokens of a step (prefill chunks and single decode tokens alike) go
// through the matrix multiplies as one batch; attention runs per sequence over
// the paged KV cache.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "kernels/backend.h"
#include "model/model.h"
#include "worker/kv_cache.h"

namespace tessera {

// Tokens of one sequence appended at positions [start_pos, start_pos + size).
struct SequenceChunk {
  int64_t seq_id = 0;
  std::span<const int32_t> tokens;
  int64_t start_pos = 0;
  bool want_logits = true;  // logits of the chunk's last token
};

class Executor {
 public:
  // Borrows all three; they must outlive the executor.
  Executor(const Model& model, Backend& backend, KvCache& kv);

  // Runs one step. On success `logits` holds one row of vocab_size floats per
  // chunk with want_logits, in batch order. Bad input (token id out of range,
  // positions past the context, a chunk starting past what the cache holds of
  // its sequence, a sequence twice in one step, a cache shaped for another
  // model) and a full KV cache are errors; nothing is reserved or written then.
  absl::Status Forward(std::span<const SequenceChunk> batch, std::vector<float>* logits);

  const Model& model() const { return model_; }
  KvCache& kv_cache() { return kv_; }

 private:
  absl::Status Validate(std::span<const SequenceChunk> batch) const;
  void EnsureScratch(int64_t n_tokens);
  void AttentionBlock(int64_t layer, std::span<const SequenceChunk> batch, int64_t n_tokens);
  void FfnBlock(int64_t layer, int64_t n_tokens);

  const Model& model_;
  Backend& backend_;
  KvCache& kv_;
  RopeParams rope_;

  // Scratch, grown to the largest step seen.
  int64_t capacity_ = 0;
  std::vector<int32_t> tokens_, positions_;
  std::vector<float> x_, xn_, q_, k_, v_, attn_, proj_, gate_, up_;
  std::vector<const float*> k_ptrs_, v_ptrs_;
};

}  // namespace tessera
