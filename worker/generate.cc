#include "worker/generate.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Releases the sequence's KV blocks on every exit path.
class SequenceGuard {
 public:
  SequenceGuard(KvCache& kv, int64_t seq) : kv_(kv), seq_(seq) {}
  ~SequenceGuard() { kv_.Release(seq_); }

 private:
  KvCache& kv_;
  int64_t seq_;
};

}  // namespace

double GenerateResult::PrefillTokensPerSecond() const {
  return prefill_seconds > 0 ? static_cast<double>(prompt_tokens) / prefill_seconds : 0.0;
}

double GenerateResult::DecodeTokensPerSecond() const {
  return decode_seconds > 0 ? static_cast<double>(decode_steps) / decode_seconds : 0.0;
}

absl::StatusOr<GenerateResult> Generate(Executor& executor, std::span<const int32_t> prompt,
                                        const GenerateOptions& options,
                                        const std::function<bool(int32_t)>& on_token) {
  if (prompt.empty()) return absl::InvalidArgumentError("the prompt has no tokens");
  if (options.max_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max tokens must be >= 1, got ", options.max_tokens));
  }
  if (options.prefill_chunk < 1) return absl::InvalidArgumentError("prefill chunk must be >= 1");
  if (auto s = ValidateSamplingParams(options.sampling); !s.ok()) return s;
  const ModelConfig& config = executor.config();
  if (options.max_tokens > config.context_length ||
      static_cast<int64_t>(prompt.size()) + options.max_tokens - 1 > config.context_length) {
    return absl::OutOfRangeError(absl::StrCat("prompt of ", prompt.size(), " tokens plus ",
                                              options.max_tokens, " new tokens exceeds the context of ",
                                              config.context_length));
  }
  if (executor.kv_cache().Has(options.seq_id)) {
    return absl::FailedPreconditionError(absl::StrCat("sequence ", options.seq_id, " is already in use"));
  }

  SequenceGuard guard(executor.kv_cache(), options.seq_id);
  Sampler sampler(options.sampling);
  const int32_t eos = executor.model() != nullptr ? executor.model()->tokenizer->eos_id() : -1;
  GenerateResult result;
  result.prompt_tokens = static_cast<int64_t>(prompt.size());
  std::vector<float> logits;

  auto start = std::chrono::steady_clock::now();
  for (int64_t pos = 0; pos < result.prompt_tokens; pos += options.prefill_chunk) {
    const int64_t len = std::min(options.prefill_chunk, result.prompt_tokens - pos);
    SequenceChunk chunk{options.seq_id, prompt.subspan(pos, len), pos,
                        pos + len == result.prompt_tokens};
    if (auto s = executor.Forward({&chunk, 1}, &logits); !s.ok()) return s;
  }
  result.prefill_seconds = SecondsSince(start);

  int64_t pos = result.prompt_tokens;
  int32_t token = sampler.Sample(logits, pos);
  while (true) {
    result.tokens.push_back(token);
    const bool is_eos = options.stop_at_eos && token == eos;
    if (is_eos) result.stopped_at_eos = true;
    if (on_token && !on_token(token)) break;
    if (is_eos || static_cast<int64_t>(result.tokens.size()) >= options.max_tokens) break;
    SequenceChunk chunk{options.seq_id, std::span<const int32_t>(&token, 1), pos, true};
    // Only the forward pass is timed: the caller's on_token (printing) is not.
    start = std::chrono::steady_clock::now();
    if (auto s = executor.Forward({&chunk, 1}, &logits); !s.ok()) return s;
    result.decode_seconds += SecondsSince(start);
    ++result.decode_steps;
    ++pos;
    token = sampler.Sample(logits, pos);
  }
  return result;
}

}  // namespace tessera
