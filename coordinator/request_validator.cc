#include "coordinator/request_validator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

// The fields of a validated request that make it the request it is.
struct FingerprintKey {
  const ValidatedRequest& r;
  template <typename H>
  friend H AbslHashValue(H h, const FingerprintKey& k) {
    const proto::SamplingOptions& s = k.r.sampling;
    return H::combine(std::move(h), k.r.prompt, k.r.max_tokens, k.r.stop_at_eos, s.temperature(), s.top_k(),
                      s.top_p(), s.seed());
  }
};

}  // namespace

int64_t KvPositionsNeeded(int64_t prompt_tokens, int64_t max_tokens) { return prompt_tokens + max_tokens - 1; }

int64_t KvBlocksNeeded(int64_t prompt_tokens, int64_t max_tokens, int32_t block_size) {
  const int64_t positions = KvPositionsNeeded(prompt_tokens, max_tokens);
  return (positions + block_size - 1) / block_size;
}

int64_t MaxInputBytesPerToken(const Tokenizer& tokenizer) {
  int64_t longest = 4;  // an unknown token stands for one UTF-8 unit
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    longest = std::max(longest, static_cast<int64_t>(tokenizer.TokenText(id).size()));
  }
  return longest;
}

uint64_t RequestFingerprint(const ValidatedRequest& request) {
  return absl::Hash<FingerprintKey>{}(FingerprintKey{request});
}

absl::Status ValidateRequestId(const std::string& request_id) {
  if (request_id.empty()) {
    return absl::InvalidArgumentError("request_id is empty (give each request a unique id of 1..128 bytes)");
  }
  if (request_id.size() > kMaxRequestIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat("request_id has ", request_id.size(),
                                                   " bytes; at most ", kMaxRequestIdBytes, " are allowed"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ValidatedRequest> ValidateGenerateRequest(const proto::GenerateRequest& request,
                                                         const Tokenizer& tokenizer,
                                                         const RequestLimits& limits) {
  if (auto st = ValidateRequestId(request.request_id()); !st.ok()) return st;
  const bool has_text = !request.prompt().empty();
  const bool has_ids = request.prompt_tokens_size() > 0;
  if (has_text == has_ids) {
    return absl::InvalidArgumentError(has_text ? "give either prompt or prompt_tokens, not both"
                                               : "the request has no prompt (set prompt or prompt_tokens)");
  }

  ValidatedRequest out;
  const proto::SamplingOptions& s = request.sampling();
  if (!std::isfinite(s.temperature()) || s.temperature() < 0.0f) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling.temperature must be finite and >= 0 (0: greedy), got ", s.temperature()));
  }
  if (s.top_k() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling.top_k must be >= 0 (0: the whole vocabulary), got ", s.top_k()));
  }
  if (!(s.top_p() >= 0.0f && s.top_p() <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling.top_p must be in [0, 1] (0 or 1: no nucleus cut), got ", s.top_p()));
  }
  out.sampling = s;
  if (s.top_p() == 0.0f) out.sampling.set_top_p(1.0f);

  if (request.max_tokens() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_tokens must be >= 0 (0: the default of ", limits.default_max_tokens, "), got ",
                     request.max_tokens()));
  }
  out.max_tokens = request.max_tokens() == 0 ? limits.default_max_tokens : request.max_tokens();
  out.stop_at_eos = !request.ignore_eos();

  if (has_text && limits.max_bytes_per_token > 0) {
    // Prompt tokens that fit: the context, and the largest ready group's KV.
    int64_t room = limits.context_length;
    if (limits.kv_blocks > 0) room = std::min(room, limits.kv_blocks * limits.kv_block_size);
    room -= out.max_tokens - 1;
    const int64_t text_room = room - (tokenizer.add_bos() && tokenizer.bos_id() >= 0 ? 1 : 0);
    const int64_t per_token = limits.max_bytes_per_token;
    const int64_t bytes = static_cast<int64_t>(request.prompt().size());
    const bool fits = text_room > 0 && (text_room >= std::numeric_limits<int64_t>::max() / per_token ||
                                        bytes <= text_room * per_token);
    if (!fits) {
      // Refused before encoding: a text this long takes as long to encode
      // as it is long, and the coordinator's one thread waits meanwhile.
      return absl::InvalidArgumentError(absl::StrCat(
          "the prompt has ", bytes, " bytes; no token of this model stands for more than ", per_token,
          " bytes, so it encodes to at least ", (bytes + per_token - 1) / per_token, " tokens, but with max_tokens ",
          out.max_tokens, " at most ", std::max<int64_t>(0, room), " prompt tokens fit (",
          limits.kv_blocks > 0 ? "the model's context and the largest ready group's KV cache"
                               : "the model's context of " + std::to_string(limits.context_length),
          "; shorten the prompt or lower max_tokens)"));
    }
  }
  if (has_text) {
    out.prompt = tokenizer.Encode(request.prompt(), tokenizer.add_bos());
    if (out.prompt.empty()) return absl::InvalidArgumentError("the prompt encodes to no tokens");
  } else {
    out.prompt.assign(request.prompt_tokens().begin(), request.prompt_tokens().end());
    for (size_t i = 0; i < out.prompt.size(); ++i) {
      if (out.prompt[i] < 0 || out.prompt[i] >= limits.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat("prompt_tokens[", i, "] = ", out.prompt[i],
                                                       " is outside the vocabulary [0, ", limits.vocab_size,
                                                       ")"));
      }
    }
  }

  const int64_t prompt = static_cast<int64_t>(out.prompt.size());
  if (KvPositionsNeeded(prompt, out.max_tokens) > limits.context_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("the prompt (", prompt, " tokens) plus max_tokens (", out.max_tokens, ") needs ",
                     KvPositionsNeeded(prompt, out.max_tokens), " positions (the last token is never fed back); "
                     "the model's context is ",
                     limits.context_length, " (shorten the prompt or lower max_tokens)"));
  }
  if (limits.kv_blocks > 0) {
    const int64_t need = KvBlocksNeeded(prompt, out.max_tokens, limits.kv_block_size);
    if (need > limits.kv_blocks) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the prompt (", prompt, " tokens) plus max_tokens (", out.max_tokens, ") needs ", need,
          " KV blocks of ", limits.kv_block_size, " positions; the largest ready group has ", limits.kv_blocks,
          " (shorten the prompt or lower max_tokens)"));
    }
  }
  return out;
}

}  // namespace tessera
