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
  // MaxInputBytesPerToken(tokenizer): a text prompt longer than the tokens
  // that fit times this is refused before it is tokenized. 0: not checked.
  int64_t max_bytes_per_token = 0;
};

struct ValidatedRequest {
  std::vector<int32_t> prompt;  // what the group prefills
  int32_t max_tokens = 0;       // > 0
  proto::SamplingOptions sampling;  // top_p 0 replaced by 1
  bool stop_at_eos = true;
};

// Positions a sequence of `prompt` + `max_tokens` tokens writes to the KV
// cache: prompt + max_tokens - 1, since the last token is sampled and never
// fed back. The group's scheduler (worker/batch_scheduler.cc, Add) refuses a
// sequence by this count, and the model's context bounds it too.
int64_t KvPositionsNeeded(int64_t prompt_tokens, int64_t max_tokens);
// KV blocks of `block_size` holding KvPositionsNeeded positions.
int64_t KvBlocksNeeded(int64_t prompt_tokens, int64_t max_tokens, int32_t block_size);

// The most input bytes one token of Tokenizer::Encode(text) (parse_special
// false) can stand for; at least 1. Why it bounds every token:
// - SentencePiece: the text is normalised (' ' -> U+2581, 3 bytes; a space
//   prefix added) and every emitted token covers a run of normalised bytes:
//   a vocabulary piece of exactly its vocabulary string (so at most that
//   string's bytes of input, fewer when it holds spaces), a byte-fallback
//   token (1 byte) or the unknown token (one UTF-8 unit: at most 4 bytes).
//   Control tokens are never emitted.
// - Byte-level BPE (gpt2): every input byte is one character of the GPT-2
//   byte alphabet (1 or 2 UTF-8 bytes), and a token covers as many input
//   bytes as its vocabulary string has characters, so at most its string's
//   bytes; the unknown token covers 1 byte.
// So max(4, the longest vocabulary string) bounds both. Text the tokenizer
// drops (a character a vocabulary with neither byte fallback nor an unknown
// token cannot spell) is the one case it misses; such a text is refused as
// too long instead of encoding to fewer tokens. Scans the vocabulary: call
// it once.
int64_t MaxInputBytesPerToken(const Tokenizer& tokenizer);

// InvalidArgument with a message a user can act on for: a request id outside
// 1..kMaxRequestIdBytes bytes, neither or both of prompt / prompt_tokens, a
// prompt that encodes to no tokens, ids outside the vocabulary, sampling
// values out of range (temperature finite >= 0, top_k >= 0, top_p in
// [0, 1]), negative max_tokens, KvPositionsNeeded beyond the context, more
// KV blocks than the largest ready group has, and a text prompt too long to
// fit either whatever it encodes to (checked before encoding it, see
// max_bytes_per_token). Text is encoded as `tessera generate` does:
// Encode(prompt, tokenizer.add_bos()).
absl::StatusOr<ValidatedRequest> ValidateGenerateRequest(const proto::GenerateRequest& request,
                                                         const Tokenizer& tokenizer,
                                                         const RequestLimits& limits);

// Only the id check (a cancel names an id too).
absl::Status ValidateRequestId(const std::string& request_id);

// What makes two generate requests the same request: the prompt's token ids
// (after tokenization), the normalised sampling, max_tokens after the
// default, and whether EOS stops it (not `stream`: how the answer travels).
// A hash, seeded per process: compare only within one coordinator.
uint64_t RequestFingerprint(const ValidatedRequest& request);

}  // namespace tessera
