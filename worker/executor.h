// The forward pass of a llama/qwen2 transformer over a batch of sequences.
// All tokens of a step (prefill chunks and single decode tokens alike) go
// through the matrix multiplies as one batch; attention runs per sequence over
// the paged KV cache, all sequences of a layer in one backend call.
//
// Weights, activations and the KV cache live in the backend's memory. A step
// uploads one block of int32s (tokens, positions, KV slots, block tables) and
// downloads only its logits (or, on a stage that is not last, its hidden
// rows), so on a GPU nothing else crosses the bus.
//
// The same code runs the whole model on one rank and one rank's shard of a
// group: a pipeline stage runs its layers only; tensor-parallel ranks hold
// some heads and FFN columns and all-reduce after the attention output and
// FFN down projections (and after a vocabulary-parallel embedding lookup).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "comm/communicator.h"
#include "kernels/backend.h"
#include "kernels/resident_weights.h"
#include "model/model.h"
#include "worker/kv_cache.h"
#include "worker/shard.h"

namespace tessera {

// Tokens of one sequence appended at positions [start_pos, start_pos + size).
struct SequenceChunk {
  int64_t seq_id = 0;
  std::span<const int32_t> tokens;
  int64_t start_pos = 0;
  bool want_logits = true;  // logits of the chunk's last token
};

// The codes RunStage uses for a step it refuses before touching anything
// (bad tokens, positions, a full KV cache). Every rank of a group judges a
// step alike, so a refused step leaves the group serving; any other error
// came from the communicator or the device and breaks it.
bool IsStepRefusal(absl::StatusCode code);
inline bool IsStepRefusal(const absl::Status& s) { return IsStepRefusal(s.code()); }

class Executor {
 public:
  // The whole model on one rank. Borrows everything; all must outlive it.
  // `kv` must have been created on `backend`.
  Executor(const Model& model, Backend& backend, KvCache& kv);
  // One rank's shard. `tp` is its stage's tensor-parallel communicator, or
  // nullptr when the stage has a single rank.
  Executor(const Shard& shard, Backend& backend, KvCache& kv, Communicator* tp);

  // Makes the weights resident in the backend's memory (on a GPU, uploads
  // them). Idempotent; RunStage calls it when it has not been. A failure is
  // never a step refusal (it is this rank's, not the step's): Unavailable
  // when the backend has no room for the weights, Internal otherwise, saying
  // "loading the weights onto <backend>: ...". Callers that must agree with
  // other ranks on a load call it at load time.
  absl::Status Load();
  bool loaded() const { return resident_ != nullptr; }

  // Runs one step of the whole model. On success `logits` holds one row of
  // vocab_size floats per chunk with want_logits, in batch order. Bad input
  // (token id out of range, positions past the context, a chunk starting past
  // what the cache holds of its sequence, a sequence twice in one step, a
  // cache shaped for another model) and a full KV cache are errors; nothing
  // is reserved or written then. Only for an executor of the whole model.
  absl::Status Forward(std::span<const SequenceChunk> batch, std::vector<float>* logits);

  // This rank's part of one step. A first stage embeds the chunks' tokens;
  // any other stage reads `hidden_in` (n_tokens x dim, the previous stage's
  // output). A stage that is not last writes n_tokens x dim floats to
  // `hidden_out`; the last stage writes to `logits`, for each chunk with
  // want_logits, the logits of this rank's vocabulary slice (n_vocab_local
  // floats a row). Validation as for Forward. A communicator error (a dead
  // peer), a device error (Internal, "device error on <backend>: ...") and a
  // failed Load never carry one of IsStepRefusal's codes; the group must then
  // be torn down.
  absl::Status RunStage(std::span<const SequenceChunk> batch, std::span<const float> hidden_in,
                        std::vector<float>* hidden_out, std::vector<float>* logits);

  const ModelConfig& config() const { return config_; }
  const ShardRanges& ranges() const { return ranges_; }
  bool first_stage() const { return ranges_.layer_begin == 0; }
  bool last_stage() const { return ranges_.layer_end == config_.n_layers; }
  // The model, for an executor of the whole model; nullptr for a shard.
  const Model* model() const { return model_; }
  KvCache& kv_cache() { return kv_; }

 private:
  absl::Status Validate(std::span<const SequenceChunk> batch) const;
  absl::Status ReserveKv(std::span<const SequenceChunk> batch);
  // Grows the activation buffers to n_tokens rows, the logits buffer to
  // n_logits rows and the upload block to n_staged int32s.
  absl::Status EnsureScratch(int64_t n_tokens, int64_t n_logits, int64_t n_staged);
  // Uploads the step's tokens, positions, slots and block tables in one copy
  // and points the step's attention arguments into the copy.
  void Stage(std::span<const SequenceChunk> batch, int64_t n_tokens);
  absl::Status Embed(int64_t n_tokens);
  absl::Status AttentionBlock(int64_t layer, int64_t n_tokens);
  absl::Status FfnBlock(int64_t layer, int64_t n_tokens);
  // Downloads the hidden rows (a stage that is not last) or the logits;
  // a device error surfaces here.
  absl::Status Output(std::span<const SequenceChunk> batch, int64_t n_tokens, int64_t n_logits,
                      std::vector<float>* hidden_out, std::vector<float>* logits);
  absl::Status AllReduce(float* x, int64_t n);
  absl::Status DeviceError(const absl::Status& s) const;

  const Model* model_ = nullptr;
  const ModelConfig& config_;
  const ModelWeights& weights_;  // host; made resident by Load
  const ShardRanges ranges_;
  Backend& backend_;
  KvCache& kv_;
  Communicator* tp_ = nullptr;
  RopeParams rope_;  // freq_factors point into resident_ once loaded
  // This rank's widths: its query heads, kv heads and FFN columns.
  int64_t q_dim_ = 0, kv_dim_ = 0, ffn_dim_ = 0;
  std::unique_ptr<ResidentWeights> resident_;

  // Backend memory, grown to the largest step seen.
  int64_t capacity_ = 0;         // rows of the activation buffers
  int64_t logits_capacity_ = 0;  // rows of logits_
  int64_t staged_capacity_ = 0;  // int32s of staged_
  BackendBuffer x_, xn_, q_, k_, v_, attn_, proj_, gate_, up_, logits_, staged_;
  // Where the step's tokens, positions and slots lie in staged_.
  const int32_t* tokens_ = nullptr;
  const int32_t* positions_ = nullptr;
  const int32_t* slots_ = nullptr;

  // Host side of each step, reused so steps do not allocate.
  std::vector<int32_t> host_staged_;
  std::vector<AttentionArgs> attention_;  // one per chunk; stores set per layer
  std::vector<float> host_reduce_;        // all-reduce through the host
};

}  // namespace tessera
