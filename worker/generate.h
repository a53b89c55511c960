// Single-sequence generation on one rank: chunked prefill of the prompt, then
// one decode step per token, with timings. The command line and the
// benchmarks use it; the serving path schedules through the executor directly.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/executor.h"
#include "worker/sampler.h"

namespace tessera {

struct GenerateOptions {
  int64_t max_tokens = 64;
  SamplingParams sampling;
  int64_t prefill_chunk = 512;  // prompt tokens per forward step
  bool stop_at_eos = true;
  int64_t seq_id = 0;
};

struct GenerateResult {
  std::vector<int32_t> tokens;    // generated tokens (EOS included when it ended the run)
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0.0;   // forward passes over the prompt (gives the first token)
  double decode_seconds = 0.0;    // forward passes for every later token
  int64_t decode_steps = 0;
  bool stopped_at_eos = false;

  double PrefillTokensPerSecond() const;
  double DecodeTokensPerSecond() const;
};

// Calls on_token(id) as soon as each token is sampled; returning false stops
// the run early. The sequence's KV blocks are released at the end.
absl::StatusOr<GenerateResult> Generate(Executor& executor, std::span<const int32_t> prompt,
                                        const GenerateOptions& options,
                                        const std::function<bool(int32_t)>& on_token = {});

}  // namespace tessera
