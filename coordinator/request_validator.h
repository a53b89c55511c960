// Checks a GenerateRequest against the model and the cluster, and turns it
// into what a group runs (token ids, max tokens, normalised sampling).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "model/tokenizer.h"
#include "proto/client_api.pb.h"

namespace tessera {

inline constexpr size_t kMaxRequestIdBytes = 128;

struct RequestLimits {
  int64_t vocab_size = 0;
  int64_t context_length = 0;
  int32_t default_max_tokens = 64;
  // The KV cache of the largest ready group, in blocks of kv_block_size
  // positions; 0 while no group is ready (then not checked: the request
  // waits for a group).
  int64_t kv_blocks = 0;
  int32_t kv_block_size = 16;
};

struct ValidatedRequest {
  std::vector<int32_t> prompt;  // what the group prefills
  int32_t max_tokens = 0;       // > 0
  proto::SamplingOptions sampling;  // top_p 0 replaced by 1
  bool stop_at_eos = true;
};

// KV blocks a sequence of `prompt` + `max_tokens` tokens may hold. Counted
// over prompt + max_tokens positions (one more than the last token needs)
// because the group's scheduler refuses a sequence by that count.
int64_t KvBlocksNeeded(int64_t prompt_tokens, int64_t max_tokens, int32_t block_size);

// InvalidArgument with a message a user can act on for: a request id outside
// 1..kMaxRequestIdBytes bytes, neither or both of prompt / prompt_tokens, a
// prompt that encodes to no tokens, ids outside the vocabulary, sampling
// values out of range (temperature finite >= 0, top_k >= 0, top_p in
// [0, 1]), negative max_tokens, prompt + max_tokens - 1 beyond the context,
// and more KV blocks than the largest ready group has. Text is encoded as
// `tessera generate` does: Encode(prompt, tokenizer.add_bos()).
absl::StatusOr<ValidatedRequest> ValidateGenerateRequest(const proto::GenerateRequest& request,
                                                         const Tokenizer& tokenizer,
                                                         const RequestLimits& limits);

// Only the id check (a cancel names an id too).
absl::Status ValidateRequestId(const std::string& request_id);

}  // namespace tessera
